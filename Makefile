# A thin wrapper over Meson; see README.md.
.PHONY: all build run test bench clean

all: build

build:
	@scripts/deps.sh build
	@[ -d build ] || meson setup build
	@ninja -C build

run: build
	./build/herald serve

test:
	@scripts/test.sh

bench:
	@bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
