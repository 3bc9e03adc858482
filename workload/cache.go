package workload

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Informed are the objects a ClientGetter reads, as its informers must hold them: the apps
// kinds typed (trimmed by CacheOptions' transforms), the rest as metadata.
func Informed() []client.Object {
	objs := []client.Object{&appsv1.ReplicaSet{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}}
	for _, gvk := range ReadKinds {
		if gvk.Group == "apps" && gvk.Kind != ControllerRevision.Kind {
			continue
		}
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		objs = append(objs, m)
	}
	return objs
}

// CacheOptions sets, in opts.ByObject, transforms that keep of ReplicaSets, Deployments and
// StatefulSets only what the walk reads (Object: metadata without managed fields, the
// selector, a StatefulSet's revisions): a cluster's ReplicaSets are many and their pod
// templates large. Nothing else may then read those kinds' specs from this cache.
func CacheOptions(opts *crcache.Options) {
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]crcache.ByObject{}
	}
	opts.ByObject[&appsv1.ReplicaSet{}] = crcache.ByObject{Transform: trimReplicaSet}
	opts.ByObject[&appsv1.Deployment{}] = crcache.ByObject{Transform: trimDeployment}
	opts.ByObject[&appsv1.StatefulSet{}] = crcache.ByObject{Transform: trimStatefulSet}
}

func trimmedMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.ManagedFields = nil
	return m
}

func trimReplicaSet(obj any) (any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return obj, nil
	}
	return &appsv1.ReplicaSet{TypeMeta: rs.TypeMeta, ObjectMeta: trimmedMeta(rs.ObjectMeta), Spec: appsv1.ReplicaSetSpec{Selector: rs.Spec.Selector}}, nil
}

func trimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	return &appsv1.Deployment{TypeMeta: d.TypeMeta, ObjectMeta: trimmedMeta(d.ObjectMeta), Spec: appsv1.DeploymentSpec{Selector: d.Spec.Selector}}, nil
}

func trimStatefulSet(obj any) (any, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return obj, nil
	}
	return &appsv1.StatefulSet{
		TypeMeta: s.TypeMeta, ObjectMeta: trimmedMeta(s.ObjectMeta), Spec: appsv1.StatefulSetSpec{Selector: s.Spec.Selector},
		Status: appsv1.StatefulSetStatus{CurrentRevision: s.Status.CurrentRevision, UpdateRevision: s.Status.UpdateRevision},
	}, nil
}
