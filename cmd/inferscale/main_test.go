package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/inferscale/inferscale/internal/version"
)

func TestVersionPrintsStampedVersion(t *testing.T) {
	old := version.Version
	version.Version = "v9.8.7-test"
	defer func() { version.Version = old }()
	var out bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if !strings.HasPrefix(out.String(), "inferscale v9.8.7-test (go") {
		t.Fatalf("got %q", out.String())
	}
}

func TestGlobalFlags(t *testing.T) {
	old := version.Version
	version.Version = "v9.8.7-test"
	defer func() { version.Version = old }()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--version"}, 0, "inferscale v9.8.7-test (go"},
		{[]string{"--log-level=debug", "--log-format=json", "version"}, 0, "inferscale v9.8.7-test (go"},
		{[]string{"--log-level=loud", "version"}, 2, `inferscale: --log-level "loud": want error, info, debug or 0..10`},
		{[]string{"--log-format=xml", "version"}, 2, `inferscale: --log-format "xml": want json or console`},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
	} {
		var out bytes.Buffer
		if code := run(c.args, nil, &out, &out); code != c.code || !strings.HasPrefix(out.String(), c.want) {
			t.Errorf("%q: exit %d, output %q; want %d, %q", c.args, code, out.String(), c.code, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name     string
		input    string
		code     int
		contains []string
	}{
		{
			name:     "samples are valid",
			input:    "../../manifests/samples/latency.yaml",
			code:     0,
			contains: []string{"AutoscalingPolicy default/llama-latency valid"},
		},
		{
			name:     "all field errors of a document",
			input:    badPolicy,
			code:     1,
			contains: []string{"spec.minReplicas: Invalid value: 0: must be at least 1: scale to zero is not supported", "spec.metrics[0].latency.percentile"},
		},
		{
			name: "unknown fields are refused",
			input: `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: typo}
spec: {maxReplica: 3}
`,
			code:     1,
			contains: []string{`unknown field "maxReplica"`},
		},
		{
			name: "unparsable duration",
			input: `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: dur}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  maxReplicas: 3
  metrics: [{type: Latency, latency: {percentile: 99, target: fast}}]
`,
			code:     1,
			contains: []string{`time: invalid duration "fast"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			args := []string{"validate", tc.input}
			stdin := strings.NewReader("")
			if strings.Contains(tc.input, "\n") {
				args = []string{"validate", "-"}
				stdin = strings.NewReader(tc.input)
			}
			code := run(args, stdin, &out, &out)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, out.String())
			}
			for _, want := range tc.contains {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
