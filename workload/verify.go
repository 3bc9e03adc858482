package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The labels the Deployment and StatefulSet controllers give the objects they create.
const (
	// PodTemplateHashLabel is on a Deployment's ReplicaSets (labels and selector) and their pods.
	PodTemplateHashLabel = "pod-template-hash"
	// ControllerRevisionHashLabel on a StatefulSet's pod names the ControllerRevision it was made from.
	ControllerRevisionHashLabel = "controller-revision-hash"
)

// link is one end of an owner reference: the object that carries it (child) or the one it
// names (parent; obj is nil when it does not exist).
type link struct {
	kind   schema.GroupKind
	name   string
	labels map[string]string
	owners []metav1.OwnerReference
	obj    *Object
}

var pod = schema.GroupKind{Kind: "Pod"}

// verify checks that child's controller reference ref to parent holds as parent's controller
// would hold it: the links Kubernetes' controllers and Seldon's operator create, and no other.
// The checks follow the controllers' claim rules (pkg/controller's ControllerRefManager: the
// reference's UID and the selector; the StatefulSet controller's membership by name and
// revision), so what is accepted here is what those controllers themselves count.
func verify(ctx context.Context, namespace string, child link, ref metav1.OwnerReference, parent link, g Getter) error {
	if parent.obj == nil {
		return errors.New("it does not exist")
	}
	if ref.UID == "" || parent.obj.UID != ref.UID {
		return fmt.Errorf("the reference's uid %q is not the object's %q", ref.UID, parent.obj.UID)
	}
	switch {
	case child.kind == pod && parent.kind == ReplicaSet:
		return podOfReplicaSet(child, parent)
	case child.kind == pod && parent.kind == StatefulSet:
		return podOfStatefulSet(ctx, namespace, child, parent, g)
	case child.kind == ReplicaSet && parent.kind == Deployment:
		return replicaSetOfDeployment(child, parent)
	case child.kind == Deployment && parent.kind == SeldonDeployment:
		// Seldon's operator creates the Deployments of a SeldonDeployment with this reference
		// and selects their pods by labels of its own; the UID is what the operator vouches.
		return nil
	}
	return fmt.Errorf("a %s does not control %ss", parent.kind.Kind, child.kind.Kind)
}

// podOfReplicaSet: the ReplicaSet's selector matches the pod (the ReplicaSet controller
// releases a pod it does not select), and a Deployment's ReplicaSet shares its
// pod-template-hash with the pod.
func podOfReplicaSet(p, rs link) error {
	if err := selects(rs, p); err != nil {
		return err
	}
	if hash, ok := rs.labels[PodTemplateHashLabel]; ok && p.labels[PodTemplateHashLabel] != hash {
		return fmt.Errorf("the pod's %s %q is not the ReplicaSet's %q", PodTemplateHashLabel, p.labels[PodTemplateHashLabel], hash)
	}
	return nil
}

// replicaSetOfDeployment: the Deployment's selector matches the ReplicaSet (as the Deployment
// controller claims it) and the ReplicaSet has the pod-template-hash the controller gives it.
func replicaSetOfDeployment(rs, d link) error {
	if err := selects(d, rs); err != nil {
		return err
	}
	if rs.labels[PodTemplateHashLabel] == "" {
		return fmt.Errorf("the ReplicaSet has no %s label, which the Deployment controller sets", PodTemplateHashLabel)
	}
	return nil
}

// podOfStatefulSet: the StatefulSet's selector matches the pod, the pod's name is the set's
// and an ordinal (the StatefulSet controller's membership rule), and its
// controller-revision-hash names one of the set's revisions: the current or update revision
// of its status, or a ControllerRevision the set controls.
func podOfStatefulSet(ctx context.Context, namespace string, p, sts link, g Getter) error {
	if err := selects(sts, p); err != nil {
		return err
	}
	ordinal, ok := strings.CutPrefix(p.name, sts.name+"-")
	if n, err := strconv.ParseUint(ordinal, 10, 31); !ok || err != nil || strconv.FormatUint(n, 10) != ordinal {
		return fmt.Errorf("the pod's name %q is not the StatefulSet's name and an ordinal", p.name)
	}
	rev := p.labels[ControllerRevisionHashLabel]
	switch {
	case rev == "":
		return fmt.Errorf("the pod has no %s label, which the StatefulSet controller sets", ControllerRevisionHashLabel)
	case rev == sts.obj.CurrentRevision || rev == sts.obj.UpdateRevision:
		return nil
	}
	cr, err := g.Get(ctx, ControllerRevision.WithVersion("v1"), namespace, rev)
	if err != nil {
		return fmt.Errorf("reading ControllerRevision %s/%s: %w", namespace, rev, err)
	}
	if cr == nil {
		return fmt.Errorf("the pod's %s %q names no ControllerRevision", ControllerRevisionHashLabel, rev)
	}
	if owner, ok := ControllerOf(cr.OwnerReferences); !ok || owner.UID != sts.obj.UID {
		return fmt.Errorf("ControllerRevision %s, which the pod's %s names, is not the StatefulSet's", rev, ControllerRevisionHashLabel)
	}
	return nil
}

// selects checks that owner's selector matches child's labels. An absent or empty selector selects
// nothing here: the API server refuses both on these kinds, so only a fixture has one.
func selects(owner, child link) error {
	if owner.obj.Selector == nil {
		return fmt.Errorf("the %s has no selector", owner.kind.Kind)
	}
	sel, err := metav1.LabelSelectorAsSelector(owner.obj.Selector)
	if err != nil {
		return fmt.Errorf("the %s's selector: %w", owner.kind.Kind, err)
	}
	if sel.Empty() {
		return fmt.Errorf("the %s's selector is empty", owner.kind.Kind)
	}
	if !sel.Matches(labels.Set(child.labels)) {
		return fmt.Errorf("the %s's selector %q does not match the %s's labels", owner.kind.Kind, sel.String(), strings.ToLower(child.kind.Kind))
	}
	return nil
}
