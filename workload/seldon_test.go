package workload

import (
	"crypto/md5"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func seldonSpecOf(t *testing.T, y string) map[string]any {
	t.Helper()
	var spec map[string]any
	if err := yaml.Unmarshal([]byte(y), &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestSeldonScaleOf(t *testing.T) {
	long := "a-very-long-seldon-deployment-name-for-a-model"
	sum := md5.Sum([]byte(long + "-default-0-classifier"))
	for _, tc := range []struct {
		name, sdep, spec string
		want             []SeldonComponent
		message          string // a part of OverrideMessage; "" when it must be empty
	}{{
		name: "prepackaged server without componentSpecs: one added by defaulting, spec.replicas",
		sdep: "iris",
		spec: `{replicas: 1, predictors: [{name: default, graph: {name: classifier, implementation: SKLEARN_SERVER, modelUri: gs://m}}]}`,
		want: []SeldonComponent{{Predictor: "default", Deployment: "iris-default-0-classifier", Replicas: FromSpec, Field: "spec.replicas"}},
	}, {
		name:    "predictor replicas take precedence",
		sdep:    "iris",
		spec:    `{predictors: [{name: default, replicas: 1, graph: {name: classifier, implementation: SKLEARN_SERVER}}]}`,
		want:    []SeldonComponent{{Predictor: "default", Deployment: "iris-default-0-classifier", Replicas: FromPredictor, Field: "spec.predictors[0].replicas"}},
		message: "sets spec.predictors[0].replicas: Seldon's operator gives that precedence over spec.replicas",
	}, {
		// Seldon's own example of the precedence (doc/source/graph/scaling.md).
		name: "componentSpec over predictor over spec",
		sdep: "test-replicas",
		spec: `
replicas: 1
predictors:
- name: example
  replicas: 2
  traffic: 50
  componentSpecs:
  - spec: {containers: [{name: classifier, image: seldonio/mock_classifier_rest:1.3}]}
  - spec: {containers: [{name: classifier2, image: seldonio/mock_classifier_rest:1.3}]}
    replicas: 3
  graph: {name: classifier, type: MODEL, children: [{name: classifier2, type: MODEL}]}
- name: example2
  traffic: 50
  componentSpecs:
  - spec: {containers: [{name: classifier3, image: seldonio/mock_classifier_rest:1.3}]}
  graph: {name: classifier3, type: MODEL}
`,
		want: []SeldonComponent{
			{Predictor: "example", Deployment: "test-replicas-example-0-classifier", Replicas: FromPredictor, Field: "spec.predictors[0].replicas"},
			{Predictor: "example", Index: 1, Deployment: "test-replicas-example-1-classifier2", Replicas: FromComponent, Field: "spec.predictors[0].componentSpecs[1].replicas"},
			{Predictor: "example2", PredictorIndex: 1, Deployment: "test-replicas-example2-0-classifier3", Replicas: FromSpec, Field: "spec.replicas"},
		},
		message: "sets spec.predictors[0].replicas, spec.predictors[0].componentSpecs[1].replicas:",
	}, {
		name: "kedaSpec over hpaSpec over replicas",
		sdep: "m",
		spec: `
predictors:
- name: p
  replicas: 2
  componentSpecs:
  - spec: {containers: [{name: a}]}
    hpaSpec: {maxReplicas: 3}
    replicas: 4
  - spec: {containers: [{name: b}]}
    hpaSpec: {maxReplicas: 3}
    kedaSpec: {triggers: []}
  graph: {name: a, children: [{name: b}]}
`,
		want: []SeldonComponent{
			{Predictor: "p", Deployment: "m-p-0-a", Replicas: FromHPA, Field: "spec.predictors[0].componentSpecs[0].hpaSpec"},
			{Predictor: "p", Index: 1, Deployment: "m-p-1-b", Replicas: FromKEDA, Field: "spec.predictors[0].componentSpecs[1].kedaSpec"},
		},
	}, {
		name: "metadata.name names the Deployment; a componentSpec without containers makes none; several containers joined",
		sdep: "m",
		spec: `
replicas: 2
predictors:
- name: p
  componentSpecs:
  - replicas: 5
  - metadata: {name: server}
    spec: {containers: [{name: a}]}
  - spec: {containers: [{name: b}, {name: c}]}
  graph: {name: a, children: [{name: b}, {name: c}]}
`,
		want: []SeldonComponent{
			{Predictor: "p", Index: 1, Deployment: "m-p-1-server", Replicas: FromSpec, Field: "spec.replicas"},
			{Predictor: "p", Index: 2, Deployment: "m-p-2-b-c", Replicas: FromSpec, Field: "spec.replicas"},
		},
	}, {
		name: "prepackaged units without a container join componentSpecs[0]",
		sdep: "m",
		spec: `
replicas: 1
predictors:
- name: p
  componentSpecs:
  - spec: {containers: [{name: transformer}]}
  graph: {name: transformer, children: [{name: model, implementation: XGBOOST_SERVER}, {name: router, implementation: SIMPLE_ROUTER}]}
`,
		want: []SeldonComponent{{Predictor: "p", Deployment: "m-p-0-transformer-model", Replicas: FromSpec, Field: "spec.replicas"}},
	}, {
		name: "a name over 63 characters is seldon- and its MD5",
		sdep: long,
		spec: `{replicas: 1, predictors: [{name: default, graph: {name: classifier, implementation: SKLEARN_SERVER}}]}`,
		want: []SeldonComponent{{Predictor: "default", Deployment: "seldon-" + hex.EncodeToString(sum[:]), Replicas: FromSpec, Field: "spec.replicas"}},
	}, {
		name: "no prepackaged server and no componentSpecs: nothing",
		sdep: "m",
		spec: `{predictors: [{name: p, replicas: 3, graph: {name: a, type: MODEL}}]}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SeldonScaleOf(tc.sdep, seldonSpecOf(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Components, tc.want) {
				t.Errorf("components\n got %+v\nwant %+v", s.Components, tc.want)
			}
			msg := s.OverrideMessage()
			if tc.message == "" && msg != "" || !strings.Contains(msg, tc.message) {
				t.Errorf("OverrideMessage() = %q, want it to contain %q", msg, tc.message)
			}
			if tc.message != "" && !strings.Contains(msg, "SeldonDeployment "+tc.sdep+" ") {
				t.Errorf("OverrideMessage() = %q does not name the SeldonDeployment", msg)
			}
			counted, ok := s.Counted()
			if ok != (len(tc.want) > 0) || ok && counted != tc.want[0] {
				t.Errorf("Counted() = %+v, %v; want the first component", counted, ok)
			}
		})
	}
}

func TestSeldonScaleOfRefusesBadSpecs(t *testing.T) {
	deep := "{name: u0}"
	for i := 1; i <= MaxSeldonGraphDepth; i++ {
		deep = "{name: u, children: [" + deep + "]}"
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"predictors not a list", `{predictors: seven}`, "SeldonDeployment m: spec:"},
		{"replicas not a number", `{predictors: [{name: p, replicas: many, graph: {name: a}}]}`, "SeldonDeployment m: spec:"},
		{"graph too deep", `{predictors: [{name: p, graph: ` + deep + `}]}`, "spec.predictors[0].graph: nests deeper than 32 units"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SeldonScaleOf("m", seldonSpecOf(t, tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDeploymentOf(t *testing.T) {
	rs := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{ref(apiVersion, kind, name)}
	}
	hash := map[string]string{"pod-template-hash": "7d9f8c"}
	for _, tc := range []struct {
		name string
		pod  Pod
		want string
	}{
		{"ReplicaSet of a Deployment", Pod{Labels: hash, Owners: rs("apps/v1", "ReplicaSet", "iris-default-0-classifier-7d9f8c")}, "iris-default-0-classifier"},
		{"no pod-template-hash", Pod{Owners: rs("apps/v1", "ReplicaSet", "iris-default-0-classifier-7d9f8c")}, ""},
		{"ReplicaSet name not the Deployment's", Pod{Labels: hash, Owners: rs("apps/v1", "ReplicaSet", "iris-default-0-classifier")}, ""},
		{"hash alone", Pod{Labels: hash, Owners: rs("apps/v1", "ReplicaSet", "-7d9f8c")}, ""},
		{"not a ReplicaSet", Pod{Labels: hash, Owners: rs("apps/v1", "StatefulSet", "iris-7d9f8c")}, ""},
		{"a ReplicaSet of another group", Pod{Labels: hash, Owners: rs("example.com/v1", "ReplicaSet", "iris-7d9f8c")}, ""},
		{"no owner", Pod{Labels: hash}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DeploymentOf(tc.pod)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("DeploymentOf() = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
