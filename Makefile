# careerrelay — targets a newcomer can guess.
GO      ?= go
BIN     := bin/careerrelay
DEVCONF := configs/dev.yaml
# How long each fuzz target runs in `make fuzz`.
FUZZTIME ?= 1m

.PHONY: build run demo test bench fuzz lint clean

build:
	$(GO) build -o $(BIN) ./cmd/careerrelay

# The relay on the dev config: SMTP 127.0.0.1:2525, pages and /metrics on
# 127.0.0.1:8080, delivered mail captured into var/dev/mail.
run: build
	$(BIN) serve -config $(DEVCONF)

# A self-contained tour in a temporary folder (about a second).
demo: build
	$(BIN) demo

# Everything CI runs: formatting, vet, staticcheck, every unit and integration
# test, all under the race detector; the integration tests drive a
# race-enabled binary and fail on any race it reports. Last, the tests of our
# fixed copies of go-msgauth's dkim package and of go-smtp (third_party/,
# modules of their own).
test: lint
	$(GO) build -race -o bin/careerrelay-race ./cmd/careerrelay
	CAREERRELAY_BIN=$(CURDIR)/bin/careerrelay-race $(GO) test -race -count=1 -timeout 15m ./...
	cd third_party/go-msgauth && $(GO) test -race -count=1 ./dkim/
	cd third_party/go-smtp && $(GO) test -race -count=1 .

# Micro-benchmarks of every package (BENCHTIME each), then the end-to-end
# comparison with Postfix + OpenDKIM (bench/e2e.sh, docs/performance.md):
# 20 connections and 1 connection sending 10 KB ISO-2022-JP tagged mails,
# then careerrelay's memory with 50 10 MB mails at once. As root it
# apt-gets the peer's packages if missing; without root it measures
# careerrelay alone. About 4 minutes on 2 cores.
BENCHTIME ?= 1s
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	GO=$(GO) bench/e2e.sh

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# gofmt, go vet and staticcheck at a pinned version (run through go run, so
# nothing is installed and every machine checks with the same rules).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin var
