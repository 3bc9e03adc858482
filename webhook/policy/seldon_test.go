package policy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

const irisPolicy = `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: iris, namespace: ai}
spec:
  targetRef: {apiVersion: machinelearning.seldon.io/v1, kind: SeldonDeployment, name: iris}
  maxReplicas: 5
  metrics:
  - type: QueueDepth
    queueDepth: {averageValue: 4}
`

func sdepObject(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace("ai")
	return u
}

// shippedSeldonSample is the SeldonDeployment of the shipped sample, as the user applies it.
func shippedSeldonSample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../manifests/samples/workloads/seldon-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		if bytes.Contains(doc, []byte("kind: SeldonDeployment\n")) {
			return string(doc)
		}
	}
	t.Fatal("no SeldonDeployment in the sample")
	return ""
}

func TestSeldonTargetWarnings(t *testing.T) {
	const sdep = "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: iris}\n"
	boom := errors.New("etcd unavailable")
	for _, tc := range []struct {
		name   string
		sdep   string // "" for none
		getErr error
		want   []string // parts of the one Seldon warning; none when empty
	}{
		{name: "the shipped sample", sdep: shippedSeldonSample(t)},
		{name: "no SeldonDeployment yet", sdep: ""},
		{
			name: "predictor replicas",
			sdep: sdep + `spec: {predictors: [{name: default, replicas: 1, graph: {name: classifier, implementation: SKLEARN_SERVER}}]}`,
			want: []string{"SeldonDeployment iris sets spec.predictors[0].replicas", "set spec.replicas instead", v1alpha1.ReasonSeldonReplicasOverridden},
		},
		{
			name: "componentSpec replicas",
			sdep: sdep + `spec: {replicas: 1, predictors: [{name: p, graph: {name: m}, componentSpecs: [{replicas: 2, spec: {containers: [{name: m}]}}]}]}`,
			want: []string{"spec.predictors[0].componentSpecs[0].replicas"},
		},
		{
			name: "hpaSpec",
			sdep: sdep + `spec: {predictors: [{name: p, graph: {name: m}, componentSpecs: [{hpaSpec: {maxReplicas: 3}, spec: {containers: [{name: m}]}}]}]}`,
			want: []string{"sets spec.predictors[0].componentSpecs[0].hpaSpec", "Deployment iris-p-0-m", v1alpha1.ReasonHPAConflict},
		},
		{name: "unreadable", sdep: "", getErr: boom, want: []string{"could not check how SeldonDeployment iris sets its replicas", "etcd unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(newScheme(t))
			if tc.sdep != "" {
				b = b.WithObjects(sdepObject(t, tc.sdep))
			}
			if tc.getErr != nil {
				b = b.WithInterceptorFuncs(interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
					return tc.getErr
				}})
			}
			targets := b.Build()
			v := &Validator{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).Build(), Targets: targets, Scales: scales{}, Access: allowAll()}
			resp := v.Handle(context.Background(), request(t, admissionv1.Create, irisPolicy, ""))
			if !resp.Allowed {
				t.Fatalf("refused: %v", resp.Result.Message)
			}
			var seldon []string
			for _, w := range resp.Warnings {
				if strings.Contains(w, "SeldonDeployment iris") {
					seldon = append(seldon, w)
				}
			}
			if len(tc.want) == 0 {
				if len(seldon) != 0 {
					t.Errorf("warnings %q, want none about the SeldonDeployment", seldon)
				}
				return
			}
			if len(seldon) != 1 {
				t.Fatalf("warnings %q, want one about the SeldonDeployment", resp.Warnings)
			}
			for _, part := range tc.want {
				if !strings.Contains(seldon[0], part) {
					t.Errorf("warning %q lacks %q", seldon[0], part)
				}
			}
		})
	}
}
