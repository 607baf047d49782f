# adcgan: two entry points (see README)
#   make demo   build .venv, get Fashion-MNIST, train AD-CGAN on "Trouser" (short CPU budget), report
#   make test   build .venv, get Fashion-MNIST, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.adcgan-installed
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
# The demo's declared budget (a cut of the paper's 15 + 5 epochs on 5,400 images): printed and recorded.
DEMO_BUDGET ?= --epochs 5 --warmup-epochs 1 --max-train-images 2000

.PHONY: demo test data env bench-speed bench-roofline clean-venv

$(STAMP): pyproject.toml scripts/install_torch.sh
	$(PYTHON) -m venv $(VENV)
	scripts/install_torch.sh $(BIN)/pip
	$(BIN)/pip install -e '.[test,ray,onnx]'
	touch $(STAMP)

env: $(STAMP)

data: $(STAMP)
	PYTHON=$(BIN)/python scripts/get_fashion_mnist.sh

demo: env data
	$(BIN)/adcgan train --detector adcgan --dataset fashion-mnist --scheme one-vs-all --class Trouser \
		--seed 0 $(DEMO_BUDGET) --out $(DEMO_OUT)

test: env data
	$(BIN)/python -m pytest -q -ra

bench-speed: env
	$(BIN)/python bench/speed.py --markdown

bench-roofline: env
	$(BIN)/python bench/roofline.py --geometries 28,32,64

clean-venv:
	rm -rf $(VENV)
