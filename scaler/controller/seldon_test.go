package controller

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

var irisKey = target.Key{Namespace: ns, Group: workload.SeldonGroup, Kind: "SeldonDeployment", Name: "iris"}

// seldonLabels are those the operator puts on every pod of SeldonDeployment iris, with a
// pod-template-hash.
var seldonPodLabels = map[string]string{workload.SeldonDeploymentIDLabel: "iris", workload.ManagedByLabel: workload.SeldonManager, workload.PodTemplateHashLabel: "5c8d"}

// seldonPod is a ready pod of the Deployment the operator names deployment, through its
// ReplicaSet.
func seldonPod(name, deployment string, now time.Time) *corev1.Pod {
	p := readyPod(name, now)
	p.Labels = maps.Clone(seldonPodLabels)
	p.Labels["app"] = deployment
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deployment + "-5c8d", UID: types.UID("uid-rs-" + deployment), Controller: ptr.To(true)}}
	return p
}

// seldonWorkload is the Deployment the operator makes for SeldonDeployment iris and its
// ReplicaSet, as the Deployment controller names and labels it.
func seldonWorkload(deployment string) []client.Object {
	l := maps.Clone(seldonPodLabels)
	l["app"] = deployment
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deployment, UID: types.UID("uid-" + deployment),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "machinelearning.seldon.io/v1", Kind: "SeldonDeployment", Name: "iris", UID: "uid-iris", Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": deployment}}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deployment + "-5c8d", UID: types.UID("uid-rs-" + deployment), Labels: l,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment, UID: types.UID("uid-" + deployment), Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: l}}}
	return []client.Object{dep, rs}
}

// newSeldonFixture is a policy on SeldonDeployment iris with the given spec, at 2 replicas.
func newSeldonFixture(t *testing.T, spec string, objs ...client.Object) *fixture {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	sdep := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": ns, "name": "iris", "uid": "uid-iris"}, "spec": s}}
	sdep.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	p := queuePolicy("iris", time.Unix(1_800_000_000, 0))
	p.Spec.TargetRef = v1alpha1.CrossVersionObjectReference{APIVersion: "machinelearning.seldon.io/v1", Kind: "SeldonDeployment", Name: "iris"}
	f := newFixture(t, append(objs, sdep, p)...)
	f.c.opts.Mapper.(*meta.DefaultRESTMapper).Add(workload.SeldonDeploymentGVK, meta.RESTScopeNamespace)
	f.scales.AddReactor("get", "seldondeployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "iris"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: f.replicas},
			Status:     autoscalingv1.ScaleStatus{Replicas: f.replicas}, // no selector, as Seldon's CRD
		}, nil
	})
	f.scales.AddReactor("update", "seldondeployments", f.scaleUpdate)
	return f
}

const twoPredictors = `
replicas: 2
predictors:
- {name: default, traffic: 50, graph: {name: classifier, implementation: SKLEARN_SERVER}}
- {name: canary, traffic: 50, graph: {name: classifier, implementation: SKLEARN_SERVER}}
`

func TestSeldonDeploymentRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pods := func() []client.Object {
		objs := append(seldonWorkload("iris-default-0-classifier"), seldonWorkload("iris-canary-0-classifier")...)
		return append(objs,
			seldonPod("default-a", "iris-default-0-classifier", now), seldonPod("default-b", "iris-default-0-classifier", now),
			seldonPod("canary-a", "iris-canary-0-classifier", now), seldonPod("canary-b", "iris-canary-0-classifier", now),
		)
	}
	childHPA := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keda-hpa-iris"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "iris-canary-0-classifier"},
			MaxReplicas:    3,
		},
	}
	for _, tc := range []struct {
		name   string
		spec   string
		extra  []client.Object
		writes []int32
		// reason and message parts of a False AbleToScale; "" for none.
		reason string
		says   []string
	}{{
		// Every pod at 10 in flight for a target of 5: the 2 pods of predictors[0]'s Deployment
		// recommend 4. Counting the canary's pods too would recommend 8.
		name:   "the pods of predictors[0].componentSpecs[0] are counted, not every predictor's",
		spec:   twoPredictors,
		writes: []int32{4},
	}, {
		name:   "predictor replicas: refused, nothing written",
		spec:   `{replicas: 2, predictors: [{name: default, replicas: 1, graph: {name: classifier, implementation: SKLEARN_SERVER}}]}`,
		reason: v1alpha1.ReasonSeldonReplicasOverridden,
		says:   []string{"SeldonDeployment iris sets spec.predictors[0].replicas", "set spec.replicas instead"},
	}, {
		name: "componentSpec replicas of a second predictor: refused",
		spec: `
replicas: 2
predictors:
- {name: default, graph: {name: classifier, implementation: SKLEARN_SERVER}}
- {name: canary, graph: {name: classifier, implementation: SKLEARN_SERVER}, componentSpecs: [{replicas: 1, spec: {containers: [{name: classifier}]}}]}
`,
		reason: v1alpha1.ReasonSeldonReplicasOverridden,
		says:   []string{"spec.predictors[1].componentSpecs[0].replicas"},
	}, {
		name: "an hpaSpec holds before its HPA exists",
		spec: `
replicas: 2
predictors:
- {name: default, graph: {name: classifier, implementation: SKLEARN_SERVER}, componentSpecs: [{hpaSpec: {maxReplicas: 3}, spec: {containers: [{name: classifier}]}}]}
`,
		reason: v1alpha1.ReasonHPAConflict,
		says:   []string{"spec.predictors[0].componentSpecs[0].hpaSpec", "iris-default-0-classifier"},
	}, {
		name:   "an HPA on any Deployment Seldon makes for it holds, labelled or not",
		spec:   twoPredictors,
		extra:  []client.Object{childHPA},
		reason: v1alpha1.ReasonHPAConflict,
		says:   []string{"keda-hpa-iris", "iris-canary-0-classifier", "spec.predictors[1].componentSpecs[0]"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSeldonFixture(t, tc.spec, append(pods(), tc.extra...)...)
			f.tick()
			for range 3 {
				f.clock.Step(time.Second)
				for _, p := range []string{"default-a", "default-b", "canary-a", "canary-b"} {
					f.reportTo(irisKey, p, 10)
				}
			}
			f.tick()
			if !slices.Equal(f.updates, tc.writes) {
				t.Errorf("/scale writes = %v, want %v", f.updates, tc.writes)
			}
			c := meta.FindStatusCondition(f.policy("iris").Status.Conditions, v1alpha1.AbleToScale)
			if tc.reason == "" {
				if c == nil || c.Status != metav1.ConditionTrue {
					t.Errorf("AbleToScale = %+v, want True", c)
				}
				return
			}
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.reason {
				t.Fatalf("AbleToScale = %+v, want False %s", c, tc.reason)
			}
			for _, s := range tc.says {
				if !strings.Contains(c.Message, s) {
					t.Errorf("message %q lacks %q", c.Message, s)
				}
			}
		})
	}
}

// A SeldonDeployment that cannot be read (deleted after its /scale was read) is a condition.
func TestSeldonDeploymentReadFailureIsACondition(t *testing.T) {
	f := newSeldonFixture(t, twoPredictors)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	u.SetNamespace(ns)
	u.SetName("iris")
	if err := f.client.Delete(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	f.tick()
	c := meta.FindStatusCondition(f.policy("iris").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonFailedGetScale || !strings.Contains(c.Message, "read SeldonDeployment ai/iris") {
		t.Errorf("AbleToScale = %+v, want False FailedGetScale naming the SeldonDeployment", c)
	}
}
