package workload

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestCacheOptionsTrim: the informers keep no pod template, spec or status beyond what the
// walk reads, and the walk still verifies every link from what they keep.
func TestCacheOptionsTrim(t *testing.T) {
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: llamaLabels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "model", Image: "vllm", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}},
	}
	managed := []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
	meta := func(kind, name string, lbls map[string]string, owners ...metav1.OwnerReference) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ai", Name: name, UID: ref("", kind, name).UID, Labels: lbls, OwnerReferences: owners, ManagedFields: managed}
	}
	d := &appsv1.Deployment{ObjectMeta: meta("Deployment", "llama", map[string]string{"app": "llama"}),
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llama"}}, Template: template}}
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("ReplicaSet", "llama-abc", llamaLabels, ref("apps/v1", "Deployment", "llama")),
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: llamaLabels}, Template: template}}
	sts := &appsv1.StatefulSet{ObjectMeta: meta("StatefulSet", "web", map[string]string{"app": "web"}),
		Spec:   appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template, ServiceName: "web"},
		Status: appsv1.StatefulSetStatus{Replicas: 2, CurrentRevision: "web-1", UpdateRevision: "web-2"}}

	var opts crcache.Options
	CacheOptions(&opts)
	trim := func(obj client.Object) client.Object {
		for k, b := range opts.ByObject {
			if reflect.TypeOf(k) == reflect.TypeOf(obj) {
				out, err := b.Transform(obj)
				if err != nil {
					t.Fatal(err)
				}
				return out.(client.Object)
			}
		}
		t.Fatalf("no transform for %T", obj)
		return nil
	}
	td, trs, tsts := trim(d).(*appsv1.Deployment), trim(rs).(*appsv1.ReplicaSet), trim(sts).(*appsv1.StatefulSet)
	if len(td.Spec.Template.Spec.Containers) != 0 || td.Spec.Replicas != nil || td.ManagedFields != nil || td.Spec.Selector == nil || td.UID != d.UID {
		t.Errorf("Deployment kept %+v", td)
	}
	if len(trs.Spec.Template.Spec.Containers) != 0 || trs.Spec.Template.Labels != nil || trs.Spec.Replicas != nil || trs.ManagedFields != nil ||
		trs.Spec.Selector == nil || trs.Labels[PodTemplateHashLabel] != "abc" || len(trs.OwnerReferences) != 1 {
		t.Errorf("ReplicaSet kept %+v", trs)
	}
	if len(tsts.Spec.Template.Spec.Containers) != 0 || tsts.Spec.ServiceName != "" || tsts.Status.Replicas != 0 ||
		tsts.Status.UpdateRevision != "web-2" || tsts.Status.CurrentRevision != "web-1" || tsts.Spec.Selector == nil {
		t.Errorf("StatefulSet kept %+v", tsts)
	}
	if len(rs.Spec.Template.Spec.Containers) != 1 || rs.ManagedFields == nil {
		t.Error("the transform changed the object it was given")
	}
	if out, err := trimReplicaSet("not a ReplicaSet"); err != nil || out != "not a ReplicaSet" {
		t.Errorf("another object: %v, %v; want it unchanged", out, err)
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	g := ClientGetter{Cache: fake.NewClientBuilder().WithScheme(scheme).WithObjects(td, trs, tsts).Build()}
	owners, err := Chain(context.Background(), Pod{Namespace: "ai", Name: "llama-abc-x", Labels: llamaLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "llama-abc")}}, g)
	if err != nil || names(owners) != "ReplicaSet/llama-abc Deployment/llama" {
		t.Errorf("chain from the trimmed cache %q, %v", names(owners), err)
	}
	owners, err = Chain(context.Background(), Pod{Namespace: "ai", Name: "web-0", Labels: webLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "web")}}, g)
	if err != nil || names(owners) != "StatefulSet/web" {
		t.Errorf("chain from the trimmed cache %q, %v", names(owners), err)
	}
}
