package configs

// Tests of the deployment files in deploy/: the systemd unit and its
// sysusers.d file, the Prometheus scrape config and alert rules, and the
// Grafana dashboard. Each names only metrics that package metrics defines,
// and the dashboard shows every one of them. Where a tool can check a file
// for real (systemd-analyze, systemd-sysusers, promtool), the test runs it;
// it skips when the tool is missing, and fails instead when CI=true.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/careerrelay/careerrelay/internal/metrics"
)

const deployDir = "deploy"

// needTool returns the path of a program, skipping the test when it is
// missing (failing when CI=true: CI installs the Debian package pkg).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found; CI must install the Debian package %s", name, pkg)
		}
		t.Skipf("%s not found (Debian package %s)", name, pkg)
	}
	return p
}

func readDeploy(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runTool runs a command and fails the test with its output when it fails.
func runTool(t *testing.T, dir, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// ---- systemd ----------------------------------------------------------

// The relay's shutdown on SIGTERM: SMTP sessions get
// server.DefaultShutdownGrace (20s), then delivery attempts in flight get
// the delivery queue's grace (DefaultDeliveryShutdownGrace, 30s). The unit
// must wait longer than both before systemd sends SIGKILL. Raise
// TimeoutStopSec with them.
const (
	smtpShutdownGrace     = 20 * time.Second
	deliveryShutdownGrace = DefaultDeliveryShutdownGrace
)

// unitDirectives parses a unit file into its key=value lines, in order
// (a key may repeat).
func unitDirectives(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	d := map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(unit), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("careerrelay.service:%d: not key=value: %q", i+1, line)
			}
			d[section+"."+k] = append(d[section+"."+k], v)
		}
	}
	return d
}

func TestSystemdUnit(t *testing.T) {
	unit := readDeploy(t, "careerrelay.service")
	d := unitDirectives(t, unit)
	want := map[string]string{
		"Service.User":                    "careerrelay",
		"Service.Group":                   "careerrelay",
		"Service.StateDirectory":          "careerrelay",
		"Service.ConfigurationDirectory":  "careerrelay",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"Service.AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.LockPersonality":         "yes",
		"Service.Restart":                 "on-failure",
		"Service.ExecStartPre":            "/usr/local/bin/careerrelay check-config -config /etc/careerrelay/careerrelay.yaml",
		"Service.ExecStart":               "/usr/local/bin/careerrelay serve -config /etc/careerrelay/careerrelay.yaml",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		if got := d[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if f := d["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", f)
	}
	// The example config's data_dir is the unit's StateDirectory, the
	// only place ProtectSystem=strict lets the relay write.
	cfg := string(mustRead(t, "careerrelay.example.yaml"))
	if !strings.Contains(cfg, "\ndata_dir: /var/lib/careerrelay\n") {
		t.Error("careerrelay.example.yaml: data_dir is not /var/lib/careerrelay, the unit's StateDirectory")
	}
	stop, err := time.ParseDuration(strings.Join(d["Service.TimeoutStopSec"], ""))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if min := smtpShutdownGrace + deliveryShutdownGrace + 10*time.Second; stop < min {
		t.Errorf("TimeoutStopSec = %v, want at least %v (the relay's shutdown graces and a margin)", stop, min)
	}

	analyze := needTool(t, "systemd-analyze", "systemd")
	// verify wants ExecStart's program to exist: check a copy of the unit
	// whose program is a stand-in at a temp path. Warnings (unknown keys,
	// bad values) exit 0, so any output fails the test.
	dir := t.TempDir()
	bin := filepath.Join(dir, "careerrelay")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "careerrelay.service")
	copyUnit := bytes.ReplaceAll(unit, []byte("/usr/local/bin/careerrelay"), []byte(bin))
	if err := os.WriteFile(copyPath, copyUnit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut := runTool(t, dir, analyze, "verify", "--man=no", copyPath)
	if strings.TrimSpace(out+errOut) != "" {
		t.Errorf("systemd-analyze verify careerrelay.service:\n%s%s", out, errOut)
	}
	// The exposure score, 0 (locked down) to 10 (unprotected); at 2.0
	// or below systemd calls it OK.
	out, _ = runTool(t, dir, analyze, "security", "--offline=true", "--threshold=20", copyPath)
	if m := regexp.MustCompile(`Overall exposure level for careerrelay.service: ([0-9.]+)`).FindStringSubmatch(out); m == nil {
		t.Errorf("systemd-analyze security: no exposure level in\n%s", out)
	} else {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

func TestSystemdSysusers(t *testing.T) {
	sysusers := needTool(t, "systemd-sysusers", "systemd")
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs(filepath.Join(deployDir, "careerrelay.sysusers.conf"))
	if err != nil {
		t.Fatal(err)
	}
	runTool(t, root, sysusers, "--root="+root, conf)
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^careerrelay:x:\d+:\d+:[^:]*:/var/lib/careerrelay:/usr/sbin/nologin$`).Match(passwd) {
		t.Errorf("systemd-sysusers made no careerrelay system user:\n%s", passwd)
	}
}

// ---- metric names -------------------------------------------------------

// knownMetrics returns every careerrelay_* metric of package metrics and
// its type, from a registry with one tenant (so every label set exists).
func knownMetrics(t *testing.T) map[string]string {
	t.Helper()
	mfs, err := metrics.NewRegistry([]string{"deploy-test"}).Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "careerrelay_") {
			m[mf.GetName()] = mf.GetType().String() // COUNTER, GAUGE, HISTOGRAM
		}
	}
	// careerrelay has 11 metrics (docs/reference.md); fewer means the
	// registry lost one.
	if len(m) < 11 {
		t.Fatalf("package metrics registers %d careerrelay_* metrics, docs/reference.md lists 11: %v", len(m), m)
	}
	return m
}

var metricName = regexp.MustCompile(`\bcareerrelay_[a-z0-9_]+`)

// seriesOf maps a series name used in PromQL to its metric: a histogram's
// _bucket, _sum and _count series belong to it. ok is false for a name
// package metrics does not define.
func seriesOf(known map[string]string, name string) (metric string, ok bool) {
	if _, ok := known[name]; ok {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, cut := strings.CutSuffix(name, suf)
		if cut && known[base] == "HISTOGRAM" {
			return base, true
		}
	}
	return "", false
}

// checkNames fails for every careerrelay_* name in expr that is not a
// metric, and returns the metrics expr uses.
func checkNames(t *testing.T, where, expr string, known map[string]string) []string {
	t.Helper()
	var used []string
	for _, n := range metricName.FindAllString(expr, -1) {
		m, ok := seriesOf(known, n)
		if !ok {
			t.Errorf("%s: %s is not a metric of package metrics (expr %q)", where, n, expr)
			continue
		}
		used = append(used, m)
	}
	return used
}

// ---- Prometheus ---------------------------------------------------------

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := yaml.Unmarshal(readDeploy(t, "careerrelay.rules.yml"), &rf); err != nil {
		t.Fatalf("careerrelay.rules.yml: %v", err)
	}
	return rf
}

// The alerts the rules must have: one per kind of trouble (issue 6).
var wantAlerts = []string{
	"CareerRelayDown", "CareerRelayTargetMissing", "CareerRelayLocalErrors",
	"CareerRelayAuthFailures", "CareerRelayQueueLarge", "CareerRelayQueueGrowing",
	"CareerRelayBouncesHigh", "CareerRelayDeferredHigh", "CareerRelayRewriteFailures",
	"CareerRelayNoLinksInjected", "CareerRelayAgencyWebhookFailed",
	"CareerRelayAgencyWebhookRetrying",
}

func TestAlertRules(t *testing.T) {
	known := knownMetrics(t)
	rf := loadRules(t)
	monitoring, err := os.ReadFile(filepath.Join("..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "careerrelay.rules.yml: " + r.Alert + r.Record
			if r.Alert == "" {
				t.Errorf("%s: only alerting rules are expected", where)
				continue
			}
			alerts = append(alerts, r.Alert)
			checkNames(t, where, r.Expr, known)
			if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
				t.Errorf("%s: severity %q, want critical, warning or info", where, sev)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			// The runbook is a section of docs/monitoring.md titled
			// with the alert's name.
			if want := "docs/monitoring.md#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
				t.Errorf("%s: runbook %q, want %q", where, r.Annotations["runbook"], want)
			}
			if !bytes.Contains(monitoring, []byte("\n### "+r.Alert+"\n")) {
				t.Errorf("%s: docs/monitoring.md has no section \"### %s\"", where, r.Alert)
			}
		}
	}
	for _, a := range wantAlerts {
		if !slices.Contains(alerts, a) {
			t.Errorf("careerrelay.rules.yml: no alert %s", a)
		}
	}
}

// TestAlertRulesPromtool checks the rules and the scrape config with
// promtool, and runs the rules' unit tests (testdata/deploy).
func TestAlertRulesPromtool(t *testing.T) {
	t.Parallel() // the unit tests take promtool some seconds
	promtool := needTool(t, "promtool", "prometheus")
	runTool(t, deployDir, promtool, "check", "rules", "careerrelay.rules.yml")
	// check config also checks the rule files it names.
	runTool(t, deployDir, promtool, "check", "config", "prometheus.yml")

	// The unit tests compare labels only: run them on a copy of the rules
	// without annotations (promtool would compare those word for word).
	var doc yaml.Node
	if err := yaml.Unmarshal(readDeploy(t, "careerrelay.rules.yml"), &doc); err != nil {
		t.Fatal(err)
	}
	stripAnnotations(&doc)
	stripped, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "careerrelay.rules.yml"), stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "deploy", "careerrelay.rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "careerrelay.rules.test.yml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := runTool(t, dir, promtool, "test", "rules", "careerrelay.rules.test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
	// Every alert has a test.
	for _, a := range wantAlerts {
		if !bytes.Contains(tests, []byte("alertname: "+a+"\n")) {
			t.Errorf("testdata/deploy/careerrelay.rules.test.yml: no test of %s", a)
		}
	}
}

// stripAnnotations removes every "annotations" key from a YAML tree.
func stripAnnotations(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		var keep []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "annotations" {
				continue
			}
			keep = append(keep, n.Content[i], n.Content[i+1])
		}
		n.Content = keep
	}
	for _, c := range n.Content {
		stripAnnotations(c)
	}
}

// ---- Grafana --------------------------------------------------------------

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw := readDeploy(t, "grafana-dashboard.json")
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dec.More() {
		t.Fatal("grafana-dashboard.json: data after the dashboard object")
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []dashPanel) []dashPanel {
	var out []dashPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// counterUse finds a counter's series name and what is around it: each use
// of a counter must sit directly inside rate( or increase(.
var counterUse = regexp.MustCompile(`(\w*)\(\s*(careerrelay_[a-z0-9_]+)`)

func TestGrafanaDashboard(t *testing.T) {
	known := knownMetrics(t)
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both are needed for import", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["tenant"] != "query" || vars["instance"] != "query" {
		t.Errorf("template variables %v: want datasource (datasource), instance and tenant (query)", vars)
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range allPanels(d.Panels) {
		where := "panel " + p.Title
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: id %d missing or used twice", where, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want the $datasource variable", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
			for _, m := range checkNames(t, where, q.Expr, known) {
				used[m] = true
			}
			if strings.Contains(q.Expr, "tenant") && !strings.Contains(q.Expr, `tenant=~"$tenant"`) {
				t.Errorf("%s: a tenant query without the $tenant filter: %q", where, q.Expr)
			}
			for _, m := range counterUse.FindAllStringSubmatch(q.Expr, -1) {
				name := m[2]
				metric, ok := seriesOf(known, name)
				if !ok {
					continue // reported by checkNames
				}
				typ := known[metric]
				if (typ == "COUNTER" || (typ == "HISTOGRAM" && name != metric)) &&
					m[1] != "rate" && m[1] != "increase" {
					t.Errorf("%s: %s inside %s(, want rate( or increase(: %q", where, name, m[1], q.Expr)
				}
			}
			if strings.Contains(q.Expr, "_bucket") && !strings.Contains(q.Expr, "histogram_quantile(") {
				t.Errorf("%s: buckets without histogram_quantile: %q", where, q.Expr)
			}
		}
	}
	for m := range known {
		if !used[m] {
			t.Errorf("grafana-dashboard.json: no panel shows %s", m)
		}
	}
	if !slices.ContainsFunc(exprs, func(e string) bool {
		return strings.Contains(e, "histogram_quantile(0.99, sum by (le, result) (rate(careerrelay_delivery_duration_seconds_bucket")
	}) {
		t.Error("grafana-dashboard.json: no p99 of careerrelay_delivery_duration_seconds")
	}

	// With promtool, parse every query: as recording rules, with
	// Grafana's variables filled in.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return // TestAlertRulesPromtool reports the missing tool
	}
	fill := strings.NewReplacer("$__rate_interval", "2m", "$__range", "24h", "$instance", ".*", "$tenant", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, err := json.Marshal(fill.Replace(e)) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.rules.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, promtool, "check", "rules", "dashboard.rules.yml")
}

// mustRead reads a file of this folder.
func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- docs -----------------------------------------------------------------

// mdLink finds relative links of Markdown files: [text](path#anchor), and
// [text](#anchor) within the file.
var mdLink = regexp.MustCompile(`\]\(([^)\s:]*?)(?:#([^)\s]+))?\)`)

// headingSlugs returns the anchors of a Markdown file's headings, the way
// GitHub makes them.
func headingSlugs(md []byte) map[string]bool {
	slugs := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		slugs[b.String()] = true
	}
	return slugs
}

// TestDocsLinks checks that the links between docs/ and configs/deploy/
// lead to files and headings that exist.
func TestDocsLinks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(deployDir, "README.md"))
	if len(files) < 7 {
		t.Fatalf("docs: %d Markdown files, want the six guides and configs/deploy/README.md", len(files))
	}
	for _, f := range files {
		md, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(md), -1) {
			target, anchor := m[1], m[2]
			path := filepath.Join(filepath.Dir(f), target)
			if target == "" {
				path = f
			}
			data, err := os.ReadFile(path)
			if err != nil {
				if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
					continue
				}
				t.Errorf("%s: link to %s: %v", f, target, err)
				continue
			}
			if anchor != "" && !headingSlugs(data)[anchor] {
				t.Errorf("%s: link to %s#%s: no such heading", f, target, anchor)
			}
		}
	}
}
