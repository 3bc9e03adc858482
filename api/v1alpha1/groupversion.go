package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of AutoscalingPolicy and AutoscalingBudget.
var GroupVersion = schema.GroupVersion{Group: "inferscale.io", Version: "v1alpha1"}

var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers the types of this package with a scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AutoscalingPolicy{}, &AutoscalingPolicyList{}, &AutoscalingBudget{}, &AutoscalingBudgetList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
