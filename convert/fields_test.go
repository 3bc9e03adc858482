package convert

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func object(t *testing.T, src string) Result {
	t.Helper()
	var obj any
	if err := yaml.Unmarshal([]byte(src), &obj); err != nil {
		t.Fatal(err)
	}
	return Object(obj)
}

// A field no converter knows is reported, not lost.
func TestUnknownFieldsAreReported(t *testing.T) {
	r := object(t, `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: a, namespace: ns, labels: {app: a}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}
  maxReplicas: 3
  futureField: {nested: [1, 2]}
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50, experimental: true}}
`)
	if r.Err != nil || r.Policy == nil {
		t.Fatalf("not converted: %v", r.Err)
	}
	var paths []string
	for _, n := range r.Notes {
		if n.Kind == Dropped {
			paths = append(paths, n.Path)
		}
	}
	want := "spec.futureField.nested[0] spec.futureField.nested[1] spec.metrics[0].resource.target.experimental"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("dropped %q, want %q", got, want)
	}
	if r.Policy.Labels["app"] != "a" || r.Policy.Namespace != "ns" {
		t.Fatalf("metadata not kept: %+v", r.Policy.ObjectMeta)
	}
}

// Values of the wrong type refuse the object, naming the field.
func TestInvalidValuesNameTheField(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"max not a number": {`
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: a}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, maxReplicas: ten}`, `spec.maxReplicas: "ten" is not a number`},
		"fraction": {`
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: a}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, maxReplicas: 2.5}`, "spec.maxReplicas: 2.5 is not a 32-bit integer"},
		"no target": {`
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: a}
spec: {maxReplicas: 2}`, "spec.scaleTargetRef: required"},
		"bad quantity": {`
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: a}
spec:
  scaleTargetRef: {name: a}
  triggers: [{type: cpu, metricType: AverageValue, metadata: {value: lots}}]`, `spec.triggers[0].metadata.value: "lots" is not a quantity`},
		"invalid after conversion": {`
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: a}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}
  minReplicas: 5
  maxReplicas: 2`, "the converted policy is invalid: spec.minReplicas"},
		"list where a map belongs": {`
apiVersion: kubeai.io/v1alpha1
kind: AIInferenceAutoscalerPolicy
metadata: {name: a}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: a}
  maxReplicas: 2
  metrics: {latency: {targetP99Ms: [1]}}`, "spec.metrics.latency.targetP99Ms: must be an integer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := object(t, tc.src)
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", r.Err, tc.want)
			}
			if r.Policy != nil || r.Complete() {
				t.Fatal("a refused object must give no policy")
			}
		})
	}
}

func TestStreamRefusesWhatIsNoObject(t *testing.T) {
	results, err := Stream([]byte("- a\n- b\n---\n\n---\n42\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Err == nil || results[1].Err == nil || results[1].Document != 1 {
		t.Fatalf("got %+v", results)
	}
}

func TestKEDAPauseBecomesThePolicysPause(t *testing.T) {
	r := object(t, `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: a, annotations: {autoscaling.keda.sh/paused: "true", autoscaling.keda.sh/paused-replicas: "3"}}
spec:
  scaleTargetRef: {name: a}
  minReplicaCount: 1
  maxReplicaCount: 4
  triggers: [{type: cpu, metricType: Utilization, metadata: {value: "60"}}]
`)
	if r.Err != nil || r.Policy == nil {
		t.Fatalf("not converted: %v", r.Err)
	}
	if got := r.Policy.Annotations; len(got) != 1 || got[v1alpha1.PausedAnnotation] != "true" {
		t.Fatalf("annotations %v, want only %s: true", got, v1alpha1.PausedAnnotation)
	}
	var notes []string
	for _, n := range r.Notes {
		notes = append(notes, string(n.Kind)+" "+n.Path)
	}
	want := "changed metadata.annotations.autoscaling.keda.sh/paused,dropped metadata.annotations.autoscaling.keda.sh/paused-replicas,changed spec.scaleTargetRef.kind"
	if strings.Join(notes, ",") != want {
		t.Errorf("notes %q, want %q", notes, want)
	}
}
