# A thin wrapper over Meson; see README.md.
.PHONY: all build run test bench jar clean

all: build

build:
	@scripts/deps.sh build
	@scripts/build.sh build

run: build
	./build/herald serve

test:
	@scripts/test.sh

bench:
	@bench/run.sh
	@bench/ingest-all.sh
	@bench/delivery.sh
	@bench/history.sh

# The GoCD bridge plugin jar (gocd-plugin/build/herald-gocd-plugin.jar).
jar:
	@scripts/deps.sh test
	@gocd-plugin/build.sh --no-tests

clean:
	rm -rf build build-asan build-fuzz build-bench gocd-plugin/build
