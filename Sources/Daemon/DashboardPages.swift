/// The dashboard's Mustache templates, in the binary (one file to install).
/// Pages are rendered on the server from the same views as the JSON API;
/// the run page's script only follows the run's event stream and posts
/// stop and resume, so the page works without it, just not live.
enum DashboardPages {
    static let layout = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · nasd</title>
    <style>
    body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d2329; }
    h1 { font-size: 1.4rem; } h1 a { color: inherit; text-decoration: none; }
    table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
    th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #dde2e6; font-variant-numeric: tabular-nums; }
    th { font-weight: 600; background: #f3f5f7; }
    td.arch { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
    .state { font-weight: 600; } .muted { color: #66707a; }
    #live { font-family: ui-monospace, monospace; min-height: 1.5em; }
    #epoch { width: 24rem; vertical-align: middle; }
    #plot svg { max-width: 100%; height: auto; border: 1px solid #dde2e6; }
    #log { font-family: ui-monospace, monospace; font-size: 12px; max-height: 16rem; overflow-y: auto; }
    button { font: inherit; padding: .3rem .9rem; margin-right: .4rem; }
    .error { color: #b00020; }
    </style>
    </head>
    <body>
    <h1><a href="/">nasd</a>{{#subtitle}} · {{subtitle}}{{/subtitle}}</h1>
    {{{content}}}
    </body>
    </html>
    """#

    static let runs = #"""
    <p class="muted">{{count}} runs in {{folder}} · {{queued}} queued · {{active}} active</p>
    <table id="runs">
    <thead><tr><th>run</th><th>state</th><th>strategy</th><th>seed</th><th>done</th><th>best reward</th></tr></thead>
    <tbody>
    {{#runs}}
    <tr data-run="{{name}}"><td><a href="/ui/runs/{{name}}">{{name}}</a></td><td class="state">{{state}}</td><td>{{strategy}}</td>
    <td>{{seed}}</td><td>{{done}} / {{budget}}</td><td>{{bestReward}}</td></tr>
    {{/runs}}
    </tbody>
    </table>
    {{^runs}}<p>No runs yet. Start one with <code>POST /runs</code> (see <a href="/openapi.yaml">openapi.yaml</a>) or <code>nas search</code>.</p>{{/runs}}
    """#

    static let run = #"""
    <p>State <span id="state" class="state">{{state}}</span> · <span id="done">{{done}}</span> / {{budget}} candidates ·
    {{strategy}}, seed {{seed}}{{#failure}} · <span class="error">{{failure}}</span>{{/failure}}</p>
    <p><button id="stop">Stop</button><button id="resume">Resume</button><button id="export">Export the Pareto front</button>
    <span id="message" class="muted"></span></p>
    <p><progress id="epoch" max="1" value="0"></progress> <span id="live" class="muted"></span></p>
    <div id="plot">{{{plot}}}</div>
    <h2>Pareto front</h2>
    <table id="pareto">
    <thead><tr><th>#</th><th>accuracy</th><th>CPU ms</th><th>params</th><th>architecture</th></tr></thead>
    <tbody>{{#front}}<tr><td>{{index}}</td><td>{{accuracy}}</td><td>{{cpu}}</td><td>{{params}}</td><td class="arch">{{arch}}</td></tr>{{/front}}</tbody>
    </table>
    <h2>Candidates</h2>
    <table id="candidates">
    <thead><tr><th>#</th><th>status</th><th>accuracy</th><th>CPU ms</th><th>reward</th><th>architecture</th></tr></thead>
    <tbody>{{#candidates}}<tr><td>{{index}}</td><td>{{status}}</td><td>{{accuracy}}</td><td>{{cpu}}</td><td>{{reward}}</td><td class="arch">{{arch}}</td></tr>{{/candidates}}</tbody>
    </table>
    <h2>Event log</h2>
    <ol id="log">{{#log}}<li value="{{id}}">{{at}} {{kind}} {{message}}</li>{{/log}}</ol>
    <script>
    (function () {
      const run = {{{runJSON}}};
      const base = "/runs/" + encodeURIComponent(run);
      const $ = (id) => document.getElementById(id);
      const fixed = (x, d) => (typeof x === "number" ? x.toFixed(d) : "");
      const events = new EventSource(base + "/events?after={{lastEventID}}");
      events.addEventListener("candidate-started", (e) => {
        const d = JSON.parse(e.data);
        $("live").textContent = "candidate " + d.index + " started: " + d.arch;
      });
      function logged(e, text) {
        if (!e.lastEventId) return;
        const item = document.createElement("li");
        item.value = Number(e.lastEventId);
        item.textContent = new Date().toISOString().slice(0, 19) + "Z " + e.type + " " + text;
        $("log").appendChild(item);
      }
      async function replot() {
        const response = await fetch("/ui/runs/" + encodeURIComponent(run) + "/pareto.svg");
        if (response.ok) $("plot").innerHTML = await response.text();
      }
      events.addEventListener("progress", (e) => {
        const d = JSON.parse(e.data);
        $("epoch").value = d.fraction;
        $("live").textContent = "candidate " + d.index + " · epoch " + d.epoch + "/" + d.epochs + " · step " + d.step + "/" +
          d.steps_per_epoch + " · loss " + fixed(d.loss, 3) + " · " + Math.round(d.images_per_second) + " img/s";
      });
      for (const kind of ["candidate-done", "candidate-failed"]) {
        events.addEventListener(kind, (e) => {
          const c = JSON.parse(e.data).candidate;
          const row = $("candidates").tBodies[0].insertRow(-1);
          for (const text of [c.index, c.status, fixed(c.val_accuracy, 4), fixed(c.latency_cpu_ms, 4), fixed(c.reward, 4), c.arch]) {
            row.insertCell(-1).textContent = text;
          }
          row.cells[5].className = "arch";
          $("done").textContent = String(Number($("done").textContent) + 1);
          logged(e, "candidate " + c.index + " " + c.status);
          replot();
        });
      }
      for (const kind of ["created", "first-step", "time-budget"]) {
        events.addEventListener(kind, (e) => logged(e, JSON.parse(e.data).message));
      }
      for (const kind of ["finished", "stopped", "failed", "resumed"]) {
        events.addEventListener(kind, (e) => {
          logged(e, JSON.parse(e.data).message);
          $("state").textContent = { finished: "finished", stopped: "idle", failed: "failed", resumed: "active" }[kind];
          if (kind !== "resumed") $("live").textContent = "";
        });
      }
      async function post(action) {
        const response = await fetch(base + "/" + action, { method: "POST" });
        const body = await response.json();
        if (response.ok) { $("state").textContent = body.state; $("message").textContent = ""; }
        else { $("message").textContent = body.error.message; }
      }
      $("stop").addEventListener("click", () => post("stop"));
      $("export").addEventListener("click", async () => {
        const response = await fetch(base + "/exports", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
        const body = await response.json();
        $("message").textContent = response.ok ? "export " + body.id + " queued: " + base + "/exports/" + body.id : body.error.message;
      });
      $("resume").addEventListener("click", () => post("resume"));
    })();
    </script>
    """#

    static let login = #"""
    <form method="post" action="/login">
    <p>This daemon needs its token (the contents of its <code>--token-file</code>, or <code>NASD_TOKEN</code>).
    It is kept in a cookie this page's scripts cannot read.</p>
    {{#error}}<p class="error">{{error}}</p>{{/error}}
    <p><input type="password" name="token" autocomplete="current-password" size="48" autofocus> <button type="submit">Sign in</button></p>
    </form>
    """#
}
