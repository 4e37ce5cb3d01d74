# labkit — thin aliases over the `labkit` command (see README.md).
PYTHON  ?= python3
LAB     ?= mlp
PROFILE ?=
P       ?=
OUT     ?=
SUBMISSIONS ?= submissions
WORKERS ?=
EXECUTOR ?= local
LABS    := $(basename $(notdir $(wildcard notebooks/*.ipynb)))

# P="epochs=5 lr=0.01" reaches `labkit report --params` as one string (through the environment, so quotes,
# spaces in values and "lr 0.01" survive); labkit parses it.
PARAM_ARGS   := $(if $(P),--params "$$LABKIT_MAKE_P")
PROFILE_ARG  := $(if $(PROFILE),--profile $(PROFILE))
OUT_ARG      := $(if $(OUT),--out $(OUT))
# REPORT_LANG=en|zh: the printed report's language, for any notebook (labkit report --lang)
LANG_ARG     := $(if $(REPORT_LANG),--lang $(REPORT_LANG))
# the printed report: CODE=all|exercises|none, LOGS=no, STUDENT=path/to/student.yaml, DOCX=no
PRINT_ARGS   := $(if $(CODE),--code $(CODE)) $(if $(filter no,$(LOGS)),--no-logs) \
                $(if $(STUDENT),--student $(STUDENT)) $(if $(filter no,$(DOCX)),--no-docx)

.PHONY: help setup system-packages report reports list grade release test test-fast bench lab clean

help:            ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

setup: system-packages  ## install everything: system packages, Python requirements, the kit, a Jupyter kernel
	$(PYTHON) -m pip install -r requirements.txt
	$(PYTHON) -m pip install --no-deps -e .
	$(PYTHON) -m ipykernel install --user --name python3 --display-name "Python 3 (labkit)"

system-packages: ## chromium (PDF), Noto CJK fonts (Chinese), pandoc (Word), poppler (tests), bubblewrap (grading sandbox)
	@if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        chromium fonts-noto-cjk pandoc poppler-utils bubblewrap; \
	elif command -v chromium >/dev/null && command -v pandoc >/dev/null && fc-list | grep -qi "Noto Sans CJK"; then \
	    echo "system packages present"; \
	else \
	    echo "Not root: install the system packages with"; \
	    echo "  sudo apt-get install chromium fonts-noto-cjk pandoc poppler-utils bubblewrap"; \
	fi

report: export LABKIT_MAKE_P := $(P)
report:          ## execute LAB (PROFILE=, P="name=value ...", OUT=, REPORT_LANG=, CODE=, LOGS=no, STUDENT=, DOCX=no) and render reports/LAB/
	$(PYTHON) -m labkit.cli report $(LAB) $(PROFILE_ARG) $(PARAM_ARGS) $(OUT_ARG) $(LANG_ARG) $(PRINT_ARGS)

reports:         ## render every lab (PROFILE= applies to all)
	@set -e; for lab in $(LABS); do $(MAKE) --no-print-directory report LAB=$$lab PROFILE=$(PROFILE); done

grade:           ## grade SUBMISSIONS=dir against LAB's rubric (OUT=, WORKERS=, EXECUTOR=local|dask, PROFILE=)
	$(PYTHON) -m labkit.cli grade $(LAB) $(SUBMISSIONS) $(OUT_ARG) $(PROFILE_ARG) \
	    $(if $(WORKERS),--workers $(WORKERS)) --executor $(EXECUTOR)

release:         ## write the student version of LAB (OUT=dir)
	$(PYTHON) -m labkit.cli release $(LAB) $(OUT_ARG)

list:            ## the labs and their parameters
	$(PYTHON) -m labkit.cli list

test:            ## the whole test suite (unit tests and every notebook in its smoke profile)
	$(PYTHON) -m pytest -q

test-fast:       ## unit tests only (skips the notebook pipeline tests)
	$(PYTHON) -m pytest -q -m "not pipeline"

bench:           ## speed benchmarks (ratios against the source reports' loops, same run)
	$(PYTHON) bench/run.py

lab:             ## open the notebooks in JupyterLab
	$(PYTHON) -m jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:           ## remove generated reports
	rm -rf reports/*/
