# The two commands of the README: `make demo` and `make test`. Both set up
# .venv themselves (tools/setup_env.sh; idempotent, fast when nothing changed).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
export AUTOLA_VENV := $(VENV)

.PHONY: setup test test-gpu demo build-cuda clean

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest tests

demo: setup
	$(PYTHON) tools/demo.py

# On a machine with an NVIDIA GPU: build the CUDA ops for it, run the
# device-parametrised tests on CUDA, one --amp training iteration of the
# Faster R-CNN HOGA config and the attention benchmark on the GPU; one summary
# line at the end (tools/test_gpu.sh). Fails at once without a GPU.
# AUTOLA_PYTHON=python3 make test-gpu uses that interpreter as it is, without
# setup (a GPU machine without a package registry).
test-gpu: $(if $(AUTOLA_PYTHON),,setup)
	bash tools/test_gpu.sh

# The CUDA kernels of autola_mm.ops compiled with nvcc and linked against the
# CUDA build of torch in $(VENV) (no GPU needed), into build/cuda: the CPU
# extension the venv imports is left alone. The GPU architectures are
# setup.py's default, those torch was built for (sm_75 to sm_120 for its CUDA
# 13 build) plus PTX of the newest for later GPUs; TORCH_CUDA_ARCH_LIST
# overrides them (TORCH_CUDA_ARCH_LIST=9.0 make build-cuda builds one, much
# faster). Then tests/test_ops/test_cuda_build.py checks that the library
# holds device code, links the CUDA runtime and loads. CUDA_HOME defaults to
# /usr/local/cuda: torch would derive /usr/local from the nvcc wrapper on
# PATH and find no libcudart there.
build-cuda:
	CUDA_HOME=$${CUDA_HOME:-/usr/local/cuda} FORCE_CUDA=1 \
		MAX_JOBS=$$(nproc) $(PYTHON) setup.py -q build_ext \
		--build-lib build/cuda/lib --build-temp build/cuda/temp
	$(PYTHON) -m pytest tests/test_ops/test_cuda_build.py

clean:
	rm -rf build work_dirs autola_mm/ops/_ext*.so
