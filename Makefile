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

# Test suites run in parallel, each training on 2 OpenMP threads: with more
# threads than the 2 cores, libgomp's spinning waits crawl (455 s against
# 189 s for the whole run here), so waiting threads sleep instead.
test: deps
	swift build --build-tests
	scripts/python-env.sh >/dev/null
	OMP_WAIT_POLICY=passive swift test --skip-build
