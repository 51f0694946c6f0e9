# LlamaKit: `make demo` runs the main job on the bundled tiny checkpoint, `make test` runs the
# tests. Both install what is missing first (libzip-dev, pkg-config) and build.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
export PATH := /opt/swift/usr/bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/release/llamakit
# The release build uses AVX2/FMA/F16C when this CPU has them (as llama.cpp's GGML_NATIVE does):
# the forward pass is 2.5-3x faster with them, and LLAMAKIT_AVX2 turns on the AVX2-intrinsic block
# dots (QuantizedKernelsAVX2.swift). `make release PORTABLE=1` builds for baseline x86-64.
NATIVE_FLAGS := $(if $(PORTABLE),,$(shell grep -q -w avx2 /proc/cpuinfo 2>/dev/null && grep -q -w fma /proc/cpuinfo && grep -q -w f16c /proc/cpuinfo && echo "-Xswiftc -target-cpu -Xswiftc haswell -Xcc -march=haswell -Xswiftc -DLLAMAKIT_F16C -Xswiftc -DLLAMAKIT_FMA -Xswiftc -DLLAMAKIT_AVX2"))
# Meta's real Llama 3 tokenizer.model ships in the llama-models 0.3.0 wheel; fetched, checked,
# cached outside git (fixtures/.cache is ignored), never committed.
LLAMA3_TOKENIZER := fixtures/.cache/llama3/tokenizer.model
LLAMA3_TOKENIZER_SHA256 := 82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55

.PHONY: deps build release demo test test-native interop bench lint clean sanitize fuzz

deps:
	@if ! pkg-config --exists libzip 2>/dev/null; then \
		echo "Installing libzip-dev and pkg-config (apt-get)…"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libzip-dev pkg-config >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib $(NATIVE_FLAGS)

DEMO := .build/demo

demo: release
	@mkdir -p $(DEMO)
	@echo "== 1. llamakit inspect fixtures/demo   (a tiny Llama-3.1-shaped model trained by fixtures/make_reference.py)"
	@$(BIN) inspect fixtures/demo
	@echo
	@echo "== 2. llamakit convert fixtures/demo -o $(DEMO)/demo-q8_0.gguf --type q8_0"
	@$(BIN) convert fixtures/demo -o $(DEMO)/demo-q8_0.gguf --type q8_0
	@echo
	@echo "== 3. llamakit inspect $(DEMO)/demo-q8_0.gguf"
	@$(BIN) inspect $(DEMO)/demo-q8_0.gguf
	@echo
	@echo "== 4. llamakit verify $(DEMO)/demo-q8_0.gguf --reference fixtures/demo/reference/reference.pth   (Meta's own logits)"
	@$(BIN) verify $(DEMO)/demo-q8_0.gguf --reference fixtures/demo/reference/reference.pth
	@echo
	@echo "== 5. llamakit generate $(DEMO)/demo-q8_0.gguf --prompt 'The old dog' -n 40"
	@$(BIN) generate $(DEMO)/demo-q8_0.gguf --prompt "The old dog" -n 40
	@echo
	@echo "== 6. llamakit convert fixtures/k256 -o $(DEMO)/k256-q4_k_m.gguf --type q4_k_m, then verify it   (llama.cpp's Q4_K_M mix, in one step)"
	@$(BIN) convert fixtures/k256 -o $(DEMO)/k256-q4_k_m.gguf --type q4_k_m
	@$(BIN) verify $(DEMO)/k256-q4_k_m.gguf --reference fixtures/k256/reference/reference.pth | tail -3
	@echo
	@echo "== 7. llamakit perplexity: the base's log-probabilities over a held-out text, then Q4_K_M against them   (llama-perplexity's method)"
	@$(BIN) perplexity fixtures/k256 --text-file fixtures/text/grammar.txt --ctx 64 --save-logits $(DEMO)/k256.logits --no-sync | tail -2
	@$(BIN) perplexity $(DEMO)/k256-q4_k_m.gguf --kl-base $(DEMO)/k256.logits | grep -E "^PPL|Mean    KLD|Same top p"
	@echo
	@echo "== 8. llamakit tokenize --tokenizer fixtures/demo/tokenizer.model --bos 'The king saw a small boat.'"
	@$(BIN) tokenize --tokenizer fixtures/demo/tokenizer.model --bos "The king saw a small boat."
	@echo
	@echo "== 9. llamakit inspect fixtures/hostile/global-os-system.pth   (a pickle that would run os.system)"
	@$(BIN) inspect fixtures/hostile/global-os-system.pth || echo "(refused, exit $$?)"

$(LLAMA3_TOKENIZER):
	@mkdir -p fixtures/.cache/wheel $(dir $@)
	python3 -m pip download --quiet --no-deps --disable-pip-version-check llama-models==0.3.0 -d fixtures/.cache/wheel
	python3 -c "import glob, sys, zipfile; w = glob.glob('fixtures/.cache/wheel/llama_models-0.3.0-*.whl')[0]; open(sys.argv[1], 'wb').write(zipfile.ZipFile(w).read('llama_models/llama3/tokenizer.model'))" $@.part
	echo "$(LLAMA3_TOKENIZER_SHA256)  $@.part" | sha256sum -c --quiet -
	mv $@.part $@

# The whole suite in a debug build, and before it the kernel and forward-pass suites built the
# way `make release` builds them (optimized, NATIVE_FLAGS), so the F16C/FMA kernels that ship
# run in a test. The full suite goes last so its summary is the last one swift test prints.
test: deps $(LLAMA3_TOKENIZER)
	$(SWIFT) build --build-tests
	$(MAKE) --no-print-directory test-native
	$(MAKE) --no-print-directory docs-check
	$(SWIFT) test --skip-build
	$(MAKE) --no-print-directory interop

# NativeBuildTests fails under LLAMAKIT_EXPECT_NATIVE=1 unless the F16C, FMA and AVX2 paths were compiled in.
# -enable-testing: a release build does not compile modules for @testable import otherwise.
NATIVE_TEST_FLAGS := -c release --scratch-path .build/native $(NATIVE_FLAGS) -Xswiftc -enable-testing
NATIVE_TESTS := TileKernelTests|QuantizedTileKernelTests|TokenKernelTests|BlockKernelTests|AVX2KernelTests|KQuantTests|NativeBuildTests|LlamaModelTests|GGUFForwardTests

test-native: deps $(LLAMA3_TOKENIZER)
ifeq ($(strip $(NATIVE_FLAGS)),)
	@echo "native kernel tests skipped: $(if $(PORTABLE),PORTABLE=1 asks for a baseline x86-64 build,CPU lacks AVX2/FMA/F16C)"
else
	$(SWIFT) build --build-tests $(NATIVE_TEST_FLAGS)
	LLAMAKIT_EXPECT_NATIVE=1 $(SWIFT) test --skip-build $(NATIVE_TEST_FLAGS) --filter '$(NATIVE_TESTS)'
endif

# gguf-py (the ecosystem's reader) reads every GGUF we write or edit; no torch needed.
interop: deps
	@python3 -c "import gguf" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check gguf==0.19.0
	$(SWIFT) build
	python3 Interop/gguf_py_reads_our_files.py .build/debug/llamakit
	python3 Interop/gguf_py_reads_edited_files.py .build/debug/llamakit

bench: release $(LLAMA3_TOKENIZER)
	$(SWIFT) build -c release --static-swift-stdlib --package-path Benchmarks
	python3 Benchmarks/bench_read.py
	python3 Benchmarks/bench_tokenize.py
	python3 Benchmarks/bench_convert.py --runs 7
	python3 Benchmarks/bench_generate.py
	python3 Benchmarks/bench_quantize.py --threads 1
	python3 Benchmarks/bench_quantize.py --threads 2
	python3 Benchmarks/bench_kquants.py --runs 3 --threads 2
	python3 Benchmarks/bench_perplexity.py --runs 3
	python3 Benchmarks/bench_diff.py --runs 5

lint:
	$(SWIFT) format lint --strict -r Sources Tests Benchmarks/Sources

clean:
	rm -rf .build

# The whole test suite under AddressSanitizer, then ThreadSanitizer (issue 6; slow, not in CI).
sanitize: deps $(LLAMA3_TOKENIZER)
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(SWIFT) test --sanitize=address --scratch-path .build-asan
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan

# Every reader under libFuzzer + ASan, FUZZ_SECONDS each (default 600), two at a time.
fuzz:
	Fuzz/run $(or $(FUZZ_SECONDS),600)

# Sample outputs in README.md and docs/commands.md, rerun on the fixtures: `docs` rewrites them,
# `docs-check` exits 1 if any is stale.
.PHONY: docs docs-check
docs: $(LLAMA3_TOKENIZER)
	scripts/readme-samples

docs-check: $(LLAMA3_TOKENIZER)
	scripts/readme-samples --check
