package injector

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
	"github.com/inferscale/inferscale/workload"
)

// lookup has one Deployment llama (uid d1) owning ReplicaSet llama-abc.
type lookup struct{ err error }

func (l lookup) NamespaceLabels(context.Context, string) (map[string]string, error) {
	return nil, l.err
}

// llamaPodLabels are the labels of ReplicaSet llama-abc's pods.
var llamaPodLabels = map[string]string{"app": "llama", workload.PodTemplateHashLabel: "abc"}

func (l lookup) Get(_ context.Context, gvk schema.GroupVersionKind, _, name string) (*workload.Object, error) {
	if l.err != nil {
		return nil, l.err
	}
	switch gvk.Kind + "/" + name {
	case "ReplicaSet/llama-abc":
		return &workload.Object{ObjectMeta: metav1.ObjectMeta{Name: "llama-abc", UID: "r1", Labels: llamaPodLabels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "d1", Controller: ptr.To(true)}}},
			Selector: &metav1.LabelSelector{MatchLabels: llamaPodLabels}}, nil
	case "Deployment/llama":
		return &workload.Object{ObjectMeta: metav1.ObjectMeta{Name: "llama", UID: "d1",
			Annotations: map[string]string{optin.AnnotationInject: "true"}}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llama"}}}, nil
	}
	return nil, nil
}

func (l lookup) PolicyTargeting(context.Context, string, schema.GroupKind, string) (string, error) {
	return "", l.err
}

func modelPod(owned bool, ports ...corev1.ContainerPort) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "llama-abc-", Labels: maps.Clone(llamaPodLabels)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "model", Image: "model:1", Ports: ports}}},
	}
	if owned {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "r1", Controller: ptr.To(true)}}
	}
	return p
}

func podRequest(t testing.TB, pod *corev1.Pod) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: types.UID("req"), Operation: admissionv1.Create, Namespace: "ai",
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: raw},
	}}
}

func service(name string, target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ai"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "llama"},
		Ports:    []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: target}},
	}}
}

func newInjector(t testing.TB, l optin.Lookup, services ...*corev1.Service) (*Injector, *events.FakeRecorder) {
	b := fake.NewClientBuilder()
	for _, s := range services {
		b = b.WithObjects(s)
	}
	rec := events.NewFakeRecorder(10)
	return &Injector{
		Lookup: l, Options: optin.DefaultOptions(), Template: inject.DefaultConfig(),
		Services: b.Build(), Recorder: rec,
	}, rec
}

// applied returns the pod the API server would store after the response's patch.
func applied(t *testing.T, req admission.Request, resp admission.Response) *corev1.Pod {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := patch.Apply(req.Object.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}

func TestInjectsOptedInPods(t *testing.T) {
	in, rec := newInjector(t, lookup{}, service("by-number", intstr.FromInt32(8000)), service("by-name", intstr.FromString("http")))
	req := podRequest(t, modelPod(true, corev1.ContainerPort{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}))
	resp := in.Handle(context.Background(), req)
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("response %+v, want an allowed patch", resp)
	}
	pod := applied(t, req, resp)
	if n := len(pod.Spec.InitContainers); n != 1 || pod.Spec.InitContainers[0].Name != inject.ContainerName {
		t.Fatalf("init containers %v, want the agent", pod.Spec.InitContainers)
	}
	if pod.Annotations[inject.AnnotationStatus] == "" {
		t.Error("no status annotation")
	}
	if !strings.Contains(resp.Result.Message, "Deployment/llama") {
		t.Errorf("message %q does not say why", resp.Result.Message)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "Service by-number") || !strings.Contains(resp.Warnings[0], `targetPort to "http"`) {
		t.Errorf("warnings %q, want one for the Service targeting 8000 by number", resp.Warnings)
	}
	if len(rec.Events) != 0 {
		t.Errorf("an event for a pod injected as asked: %s", <-rec.Events)
	}

	// A reinvocation sees its own work and changes nothing, without a lookup.
	in.Lookup = lookup{err: errors.New("a reinvocation must not look anything up")}
	again := in.Handle(context.Background(), podRequest(t, pod))
	if !again.Allowed || len(again.Patches) != 0 || len(again.Warnings) != 0 {
		t.Errorf("reinvocation: %+v, want no patch and no warning", again)
	}
}

func TestAdmitsUnchanged(t *testing.T) {
	withPort := modelPod(true, corev1.ContainerPort{Name: "http", ContainerPort: 8000})
	optedOut := withPort.DeepCopy()
	optedOut.Annotations = map[string]string{optin.AnnotationInject: "false"}
	tests := []struct {
		name      string
		lookup    optin.Lookup
		pod       *corev1.Pod
		caErr     error
		dryRun    bool
		wantWarn  string
		wantEvent string
	}{
		{name: "not opted in", lookup: lookup{}, pod: modelPod(false, corev1.ContainerPort{Name: "http", ContainerPort: 8000})},
		{name: "opted out", lookup: lookup{}, pod: optedOut},
		{name: "no port to front", lookup: lookup{}, pod: modelPod(true), wantWarn: "no container declares a TCP port",
			wantEvent: "Warning InferscaleNotInjected pod llama-abc-* opted in"},
		{name: "owner lookup fails", lookup: lookup{err: errors.New("cache not synced")}, pod: withPort, wantWarn: "could not decide"},
		{name: "dry run leaves no event", lookup: lookup{}, pod: modelPod(true), dryRun: true, wantWarn: "no container declares a TCP port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, rec := newInjector(t, tt.lookup)
			req := podRequest(t, tt.pod)
			req.DryRun = ptr.To(tt.dryRun)
			resp := in.Handle(context.Background(), req)
			if !resp.Allowed || len(resp.Patches) != 0 {
				t.Fatalf("response %+v, want admitted unchanged", resp)
			}
			warnings := strings.Join(resp.Warnings, "\n")
			if (tt.wantWarn == "") != (warnings == "") || !strings.Contains(warnings, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarn)
			}
			var event string
			select {
			case event = <-rec.Events:
			default:
			}
			if (tt.wantEvent == "") != (event == "") || !strings.Contains(event, tt.wantEvent) {
				t.Errorf("event %q, want %q", event, tt.wantEvent)
			}
		})
	}
}

func TestEventGoesToTheWorkload(t *testing.T) {
	d := optin.Decision{Owners: []workload.Owner{
		{GroupKind: schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, APIVersion: "apps/v1", Name: "llama-abc", UID: "r1"},
		{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, APIVersion: "apps/v1", Name: "llama", UID: "d1"},
	}}
	obj := eventObject(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ai"}}, d)
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || m.Kind != "Deployment" || m.Name != "llama" || m.UID != "d1" || m.Namespace != "ai" {
		t.Errorf("event on %+v, want Deployment ai/llama", obj)
	}
	claimed := optin.Decision{Owners: []workload.Owner{{GroupKind: schema.GroupKind{Group: "batch", Kind: "Job"}, APIVersion: "batch/v1", Name: "train", UID: "j1", Source: workload.Claimed}}}
	if obj, ok := eventObject(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "p"}}, claimed).(*corev1.Pod); !ok || obj.Name != "p" {
		t.Errorf("event on %+v, want the pod: only the pod names its Job", obj)
	}
	if obj := eventObject(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}, optin.Decision{}); obj != nil {
		t.Errorf("event on %+v for a nameless, ownerless pod; want none", obj)
	}
}

func TestIgnoresOtherRequests(t *testing.T) {
	in, _ := newInjector(t, lookup{})
	req := podRequest(t, modelPod(true, corev1.ContainerPort{Name: "http", ContainerPort: 8000}))
	req.Operation = admissionv1.Update
	if resp := in.Handle(context.Background(), req); !resp.Allowed || len(resp.Patches) != 0 {
		t.Errorf("update: %+v", resp)
	}
	req = podRequest(t, modelPod(true))
	req.Object.Raw = []byte("{")
	if resp := in.Handle(context.Background(), req); !resp.Allowed || len(resp.Patches) != 0 || len(resp.Warnings) != 1 {
		t.Errorf("undecodable pod: %+v, want admitted with a warning", resp)
	}
}

func BenchmarkHandle(b *testing.B) {
	in, _ := newInjector(b, lookup{}, service("by-name", intstr.FromString("http")))
	req := podRequest(b, modelPod(true, corev1.ContainerPort{Name: "http", ContainerPort: 8000}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if resp := in.Handle(ctx, req); len(resp.Patches) == 0 {
			b.Fatal("not injected")
		}
	}
}

// podSecurityLookup answers the namespace's labels with a Pod Security level.
type podSecurityLookup struct {
	lookup
	level string
}

func (l podSecurityLookup) NamespaceLabels(context.Context, string) (map[string]string, error) {
	return map[string]string{inject.LabelPodSecurityEnforce: l.level}, nil
}

// The PodResources socket is mounted only where the namespace's Pod Security level admits the
// pod that has it; elsewhere the pod is injected without it and told why.
func TestPodResourcesFollowsNamespacePodSecurity(t *testing.T) {
	pod := modelPod(true, corev1.ContainerPort{Name: "http", ContainerPort: 8000})
	pod.Annotations = map[string]string{inject.AnnotationGPUPodResources: "true"}
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{inject.GPUResource: resource.MustParse("1")}
	for level, want := range map[string]bool{"privileged": true, "": true, "baseline": false, "restricted": false} {
		in, _ := newInjector(t, podSecurityLookup{level: level})
		in.Template.GPUPodResources = true
		req := podRequest(t, pod)
		resp := in.Handle(context.Background(), req)
		got := applied(t, req, resp)
		mounted := slices.ContainsFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == inject.PodResourcesVolumeName })
		warned := slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, "Pod Security level") })
		if mounted != want || warned == want {
			t.Errorf("level %q: mounted %v, warned %v %q; want mounted %v", level, mounted, warned, resp.Warnings, want)
		}
	}
}
