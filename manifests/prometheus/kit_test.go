// Package kit_test checks the monitoring kit of this directory against the binaries: the
// Grafana dashboard loads (the fields Grafana needs are there and well-formed), the
// PrometheusRules are valid, and every metric their PromQL reads, with every label it
// matches on, is one the webhook, the scaler or the agent registers.
package kit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/agent"
	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
	"github.com/inferscale/inferscale/internal/nettest"
	"github.com/inferscale/inferscale/scaler/app"
	"github.com/inferscale/inferscale/webhook/server"
)

// family is a registered metric: its label names, and whether it is a histogram or summary
// (whose series are NAME_bucket, NAME_count, NAME_sum) when that is known.
type family struct {
	labels    map[string]bool
	histogram bool
}

// families is every metric name the binaries register, by name.
type families map[string]family

// targetLabels are added by Prometheus and the prometheus-operator to every scraped series
// (the agents' namespace and pod come from here).
var targetLabels = []string{"namespace", "pod", "instance", "job", "container", "endpoint", "service"}

// recorder is a Registerer that keeps what each collector describes, so that a vector
// without series yet is listed too: Gather only returns families with series.
type recorder struct {
	*prometheus.Registry
	got families
}

var descName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), .*, constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			panic("unexpected Desc format: " + d.String())
		}
		name, err := strconv.Unquote(m[1])
		if err != nil {
			panic(err)
		}
		f := family{labels: map[string]bool{}, histogram: true} // unknown type: allow the suffixes
		for _, kv := range strings.Split(m[2], ",") {
			if k, _, ok := strings.Cut(kv, "="); ok {
				f.labels[k] = true
			}
		}
		for _, l := range strings.Split(m[3], ",") {
			if l != "" {
				f.labels[strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")")] = true
			}
		}
		r.got[name] = f
	}
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// registered builds the registries as the binaries do and lists what they hold: the scaler's
// and the webhook's metrics (app.RegisterMetrics, server.RegisterMetrics) beside
// controller-runtime's own, and a real agent's registry.
func registered(t *testing.T) families {
	t.Helper()
	all := families{}
	for _, register := range []func(prometheus.Registerer){
		func(reg prometheus.Registerer) { app.RegisterMetrics(reg) },
		server.RegisterMetrics,
		func(reg prometheus.Registerer) {
			cfg := agentv1.Default()
			cfg.UpstreamPort, cfg.ListenPort, cfg.AdminPort = 1, nettest.FreePort(t), nettest.FreePort(t)
			cfg.DrainGrace, cfg.DrainTimeout = 0, 0
			cfg.ScalerURL, cfg.PodName, cfg.PodNamespace, cfg.PodUID = "https://scaler.invalid", "p", "ns", "uid"
			noGPU := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
			a, err := agent.New(cfg, logr.Discard(), agent.Options{NVML: noGPU, Registerer: reg})
			if err != nil {
				t.Fatalf("agent: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
		},
	} {
		r := &recorder{Registry: prometheus.NewRegistry(), got: all}
		register(r)
	}
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		f := family{labels: map[string]bool{}, histogram: mf.GetType() != 0 && mf.GetType() != 1 && mf.GetType() != 3}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
			}
		}
		all[mf.GetName()] = f
	}
	return all
}

// check fails t unless every metric that expr selects is registered with the labels it matches.
func (fs families) check(t *testing.T, where, expr string) {
	t.Helper()
	for _, p := range fs.problems(expr) {
		t.Errorf("%s: %s", where, p)
	}
}

// problems says what in expr is not registered by the binaries, or why it does not parse.
func (fs families) problems(expr string) []string {
	e, err := parser.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return []string{fmt.Sprintf("%q: %v", expr, err)}
	}
	var out []string
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		found = true
		f, ok := fs.lookup(vs.Name)
		if !ok {
			out = append(out, fmt.Sprintf("%s is not registered by any inferscale binary (query %q)", vs.Name, expr))
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != "__name__" && !f.labels[m.Name] && !slices.Contains(targetLabels, m.Name) {
				out = append(out, fmt.Sprintf("%s has no label %s (query %q)", vs.Name, m.Name, expr))
			}
		}
		return nil
	})
	if !found {
		out = append(out, fmt.Sprintf("%q reads no metric", expr))
	}
	return out
}

func (fs families) lookup(name string) (family, bool) {
	if f, ok := fs[name]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fs[base]; ok && f.histogram {
				if suffix == "_bucket" {
					f.labels = maps(f.labels, "le")
				}
				return f, true
			}
		}
	}
	return family{}, false
}

func maps(m map[string]bool, extra string) map[string]bool {
	out := map[string]bool{extra: true}
	for k := range m {
		out[k] = true
	}
	return out
}

// grafanaVariables stand in for what Grafana substitutes before a query reaches Prometheus.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h")

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string      `json:"name"`
			Type       string      `json:"type"`
			Query      any         `json:"query"`
			Datasource *datasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string      `json:"name"`
			Expr       string      `json:"expr"`
			Datasource *datasource `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// panelTypes are Grafana's built-in panels this dashboard may use.
var panelTypes = []string{"row", "timeseries", "stat", "table", "gauge", "bargauge", "state-timeline", "text"}

// labelValues is Grafana's label_values(SELECTOR, LABEL) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.UID == "" || len(d.UID) > 40 || d.Title == "" {
		t.Errorf("uid %q (1 to 40 characters) and title %q are required", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want 36 or later (datasources by uid)", d.SchemaVersion)
	}
	fs := registered(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Query != "prometheus" {
				t.Errorf("variable %s: query %v, want prometheus", v.Name, v.Query)
			}
		case "query":
			q, _ := v.Query.(map[string]any)
			s, _ := q["query"].(string)
			m := labelValues.FindStringSubmatch(s)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, s)
				continue
			}
			fs.check(t, "variable "+v.Name, m[1])
		default:
			t.Errorf("variable %s: type %q", v.Name, v.Type)
		}
	}
	if !vars["datasource"] {
		t.Fatal("no datasource variable: panels refer to ${datasource}")
	}
	checkDS := func(where string, ds *datasource) {
		if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", where, ds)
		}
	}
	for _, a := range d.Annotations.List {
		checkDS("annotation "+a.Name, a.Datasource)
		fs.check(t, "annotation "+a.Name, a.Expr)
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: id must be positive and unique", where)
			}
			ids[p.ID] = true
			if !slices.Contains(panelTypes, p.Type) || p.Title == "" {
				t.Errorf("%s: type %q, title required", where, p.Type)
			}
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
				t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
			}
			walk(p.Panels)
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if q.RefID == "" || refs[q.RefID] {
					t.Errorf("%s: refId %q empty or repeated", where, q.RefID)
				}
				refs[q.RefID] = true
				checkDS(where+" target "+q.RefID, q.Datasource)
				fs.check(t, where, q.Expr)
			}
		}
	}
	walk(d.Panels)
	if len(ids) < 10 {
		t.Errorf("%d panels: the dashboard lost its content", len(ids))
	}
}

type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

func TestRules(t *testing.T) {
	raw, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.UnmarshalStrict(raw, &pr); err != nil {
		t.Fatalf("rules.yaml: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("%s %s, want a monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	fs := registered(t)
	alerts := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert
			if r.Alert == "" {
				t.Errorf("%s: only alerts here", where)
			}
			alerts[r.Alert] = true
			if _, err := time.ParseDuration(r.For); r.For != "" && err != nil {
				t.Errorf("%s: for %q: %v", where, r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description are required", where)
			}
			fs.check(t, where, r.Expr)
		}
	}
	// What the alerts are for; docs/observability.md documents each.
	for _, want := range []string{"InferscaleCertificateExpiresSoon", "InferscaleTickErrors", "InferscaleReportsRefused",
		"InferscalePodsWithoutAgent", "InferscalePolicyHeld"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestCheckFindsWhatIsMissing keeps the check honest: an unknown metric or label fails it.
func TestCheckFindsWhatIsMissing(t *testing.T) {
	fs := registered(t)
	for _, expr := range []string{
		`inferscale_scaler_metric_value_percent{namespace="a"}`,
		`inferscale_scaler_desired_replicas{policy_name="a"}`,
		`rate(inferscale_scaler_tick_seconds_total[5m])`,
		`sum(`,
	} {
		if len(fs.problems(expr)) == 0 {
			t.Errorf("%q passed the check", expr)
		}
	}
	for _, expr := range []string{
		`inferscale_build_info`,
		`histogram_quantile(0.99, sum by (le) (rate(inferscale_agent_request_duration_seconds_bucket{pod="x", class="2xx"}[$__rate_interval])))`,
		`inferscale_scaler_metric_target_seconds{namespace="a", policy="b", type="Latency", metric="p99"}`,
	} {
		fs.check(t, "test", expr)
	}
}
