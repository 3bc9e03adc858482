package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferscale/inferscale/internal/policyfile"
)

// Every policy convert writes passes inferscale validate: the strict decoding
// and the webhook's rules.
func TestConvertOutputValidates(t *testing.T) {
	files, err := filepath.Glob("../../convert/testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test inputs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errOut bytes.Buffer
			run([]string{"convert", f}, nil, &out, &errOut)
			converted := strings.Count(errOut.String(), ": converted to AutoscalingPolicy ")
			if converted == 0 {
				t.Fatalf("nothing converted:\n%s", errOut.String())
			}
			results, err := policyfile.Decode(out.Bytes())
			if err != nil {
				t.Fatalf("output does not decode: %v\n%s", err, out.String())
			}
			if len(results) != converted {
				t.Fatalf("%d policies written, %d reported converted", len(results), converted)
			}
			for _, r := range results {
				if len(r.Errs) > 0 {
					t.Errorf("%s: %v", r.Name, r.Errs)
				}
			}
		})
	}
}

func TestConvertExitStatusAndReport(t *testing.T) {
	cases := []struct {
		name, input string
		code        int
		stderr      []string
	}{
		{"complete", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, maxReplicas: 3}\n",
			0, []string{"-: document 0: autoscaling/v1 HorizontalPodAutoscaler a: converted to AutoscalingPolicy a", "changed spec.targetCPUUtilizationPercentage"}},
		{"a metric left out", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}\n  maxReplicas: 3\n  metrics:\n  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}\n  - {type: ContainerResource, containerResource: {name: cpu, container: model, target: {type: Utilization, averageUtilization: 60}}}\n",
			1, []string{"converted to AutoscalingPolicy a", "not converted spec.metrics[1]: container resource metrics have no equivalent"}},
		{"refused, named with its reason", "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: j, namespace: q}\nspec: {}\n",
			1, []string{"-: document 0: keda.sh/v1alpha1 ScaledJob q/j: not convertible: a ScaledJob starts Jobs"}},
		{"other objects are named as skipped", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			0, []string{"-: document 0: v1 ConfigMap c: skipped: not an autoscaler"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"convert"}, strings.NewReader(tc.input), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, errOut.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut.String())
				}
			}
		})
	}
}

func TestConvertMissingFile(t *testing.T) {
	var out, errOut bytes.Buffer
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	if code := run([]string{"convert", missing}, nil, &out, &errOut); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(missing); err == nil || !strings.Contains(errOut.String(), "absent.yaml") {
		t.Fatalf("stderr %q", errOut.String())
	}
}
