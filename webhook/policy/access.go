package policy

import (
	"context"
	"fmt"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	authzv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// AccessReviewer sends one SubjectAccessReview; client-go's SubjectAccessReviewInterface has
// this method.
type AccessReviewer interface {
	Create(ctx context.Context, sar *authzv1.SubjectAccessReview, opts metav1.CreateOptions) (*authzv1.SubjectAccessReview, error)
}

var _ AccessReviewer = authzv1client.SubjectAccessReviewInterface(nil)

// ScaleAccess asks the API server whether the user who writes a policy may update the /scale
// of its target. The scaler writes /scale with its own, cluster-wide rights; without this
// check anyone who may create a policy could scale any workload of the namespace.
type ScaleAccess struct {
	Reviewer AccessReviewer
	// Mapper turns the target's kind into its resource. A kind it does not know (a CRD not
	// installed yet) is checked under the lower-case plural of its kind, as RBAC rules for
	// it would name it.
	Mapper meta.RESTMapper
}

// denial says why a user may not scale a target; empty when they may.
func (s *ScaleAccess) denial(ctx context.Context, user authnv1.UserInfo, namespace string, gvk schema.GroupVersionKind, name string) (string, error) {
	gvr := s.resource(gvk)
	extra := make(map[string]authzv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := s.Reviewer.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: namespace, Verb: "update", Group: gvr.Group, Version: gvr.Version,
			Resource: gvr.Resource, Subresource: "scale", Name: name,
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("SubjectAccessReview of update %s/scale: %w", gvr.GroupResource(), err)
	}
	if sar.Status.Allowed {
		return "", nil
	}
	msg := fmt.Sprintf("user %q may not update %s/scale %q in namespace %s, so a policy of theirs may not scale it either (the scaler would do it with its own rights)",
		user.Username, gvr.GroupResource(), name, namespace)
	if r := strings.TrimSpace(sar.Status.Reason); r != "" {
		msg += ": " + r
	}
	return msg, nil
}

func (s *ScaleAccess) resource(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	if s.Mapper != nil {
		if m, err := s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			return m.Resource
		}
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural
}
