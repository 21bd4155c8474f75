import SearchSpace
for s in ["r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r3_k3_s2_e6_o32|mb_r2_k3_s1_e6_o64|head_o256",
          "r28_w0.5:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r3_k3_s2_e6_o32|mb_r2_k3_s1_e6_o64|head_o256"] {
  let a = try Architecture(parsing: s)
  let n = Network(a)
  print(a, a.hash, n.params, n.macs, n.layers.count)
}
