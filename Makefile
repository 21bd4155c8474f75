# The two commands of README's quick start:
#   make demo   installs what is missing, builds in release, runs the main job
#   make test   installs what is missing (Debian packages; onnxruntime and onnx
#               in a virtual environment under .build/), runs every test
.PHONY: deps build demo test

deps:
	@scripts/install-deps.sh

build: deps
	swift build -c release

demo: build
	.build/release/nas space check SearchSpaces/mnasnet-fm.yaml SearchSpaces/mobilenetv2-fm.yaml SearchSpaces/tiny.yaml
	@echo
	.build/release/nas space sample SearchSpaces/mnasnet-fm.yaml --seed 7 --count 3
	@echo
	.build/release/nas arch show SearchSpaces/reference/mbv2-fm.arch
	@echo
	.build/release/nas train --arch SearchSpaces/reference/mbv2-fm-0.5.arch --subset 5000 --epochs 1 --warmup-epochs 0.2
	@echo
	rm -rf Runs/demo-tiny
	.build/release/nas search --space SearchSpaces/tiny.yaml --strategy evolution --budget 30 --seed 1 --run demo-tiny

# Tests run one at a time: several suites train and measure latency, and
# side by side on 2 cores they slow each other (a latency-table check once
# missed its bound that way) while the whole run takes no longer in series
# (244 s here, against 233 s in parallel). OpenMP's waiting threads sleep
# rather than spin, for the tests whose child processes overlap.
# The PostgreSQL run store's tests get a private server of their own, started
# here and stopped whatever the tests' outcome.
test: deps
	swift build --build-tests
	scripts/python-env.sh >/dev/null
	scripts/postgres-test.sh start .build/postgres
	NASD_TEST_POSTGRES=$$(cat .build/postgres/url) OMP_WAIT_POLICY=passive swift test --skip-build --no-parallel; \
	  status=$$?; scripts/postgres-test.sh stop .build/postgres; exit $$status
