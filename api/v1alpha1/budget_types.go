package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AutoscalingBudget caps one resource (GPUs first) summed over the targets of
// the policies it covers. When they ask for more, the scaler grants replicas
// in the policies' priority order, in proportion to demand within a priority,
// never below a policy's minReplicas, and gives up headroom first.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=asb,categories=inferscale
// +kubebuilder:printcolumn:name="Resource",type=string,JSONPath=`.spec.resource`
// +kubebuilder:printcolumn:name="Max",type=string,JSONPath=`.spec.max`
// +kubebuilder:printcolumn:name="Used",type=string,JSONPath=`.status.used`
// +kubebuilder:printcolumn:name="Requested",type=string,JSONPath=`.status.requested`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AutoscalingBudget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AutoscalingBudgetSpec   `json:"spec"`
	Status AutoscalingBudgetStatus `json:"status,omitempty"`
}

// AutoscalingBudgetList is a list of AutoscalingBudget.
//
// +kubebuilder:object:root=true
type AutoscalingBudgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AutoscalingBudget `json:"items"`
}

// AutoscalingBudgetSpec says which policies a budget covers and how much of
// one resource their targets may request together.
type AutoscalingBudgetSpec struct {
	// Resource is what the budget counts, from the requests of the targets'
	// pods: nvidia.com/gpu (whole GPUs, and MIG slices as their fraction of
	// a GPU), a MIG profile such as nvidia.com/mig-1g.10gb (those slices
	// only), cpu or memory.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Resource corev1.ResourceName `json:"resource"`

	// Max is the most of Resource the covered targets may request together.
	Max resource.Quantity `json:"max"`

	// Min is an amount of Resource the covered targets keep even without
	// demand: the scaler grants extra replicas, highest priority first and
	// within each policy's maxReplicas, until their requests reach it.
	// +optional
	Min *resource.Quantity `json:"min,omitempty"`

	// NamespaceSelector selects the namespaces whose policies the budget
	// covers, by the namespaces' labels (kubernetes.io/metadata.name is the
	// namespace's name). Omitted: every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// PolicySelector selects the covered policies by their labels. Omitted:
	// every policy of the selected namespaces.
	// +optional
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`
}

// AutoscalingBudgetStatus is the budget as the scaler last applied it.
type AutoscalingBudgetStatus struct {
	// ObservedGeneration is the spec generation the last allocation used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Used is what the covered targets' current replicas request.
	// +optional
	Used *resource.Quantity `json:"used,omitempty"`
	// Requested is what the covered policies asked for, headroom included.
	// +optional
	Requested *resource.Quantity `json:"requested,omitempty"`
	// Granted is what the scaler granted them.
	// +optional
	Granted *resource.Quantity `json:"granted,omitempty"`
	// Policies are the covered policies and their grants, highest priority
	// first.
	// +optional
	// +listType=atomic
	Policies []BudgetPolicyStatus `json:"policies,omitempty"`
	// Conditions: Limited (True while some policy gets less than it asks)
	// and MinimumsFit (False while the minReplicas alone exceed max).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BudgetPolicyStatus is one covered policy's share of a budget.
type BudgetPolicyStatus struct {
	// Namespace and Name of the policy.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Priority of the policy (spec.priority).
	// +optional
	Priority int32 `json:"priority,omitempty"`
	// PerReplica is what one replica of the target requests of the
	// budget's resource.
	// +optional
	PerReplica *resource.Quantity `json:"perReplica,omitempty"`
	// CurrentReplicas is the target's replica count when last observed.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`
	// RequestedReplicas is what the policy's decision asked for, headroom
	// included.
	// +optional
	RequestedReplicas int32 `json:"requestedReplicas,omitempty"`
	// GrantedReplicas is what the budget granted.
	// +optional
	GrantedReplicas int32 `json:"grantedReplicas,omitempty"`
	// Reason says which rule set the grant, in words.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// HeadroomSpec keeps spare replicas above the demand, for bursts: a GPU pod
// takes minutes to start. The larger of the two counts applies.
type HeadroomSpec struct {
	// Percent of the demanded replicas, rounded up, 0..1000.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Percent *int32 `json:"percent,omitempty"`
	// Replicas is a fixed count of spare replicas, 0..1000.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`
}

// Condition types of AutoscalingBudgetStatus.
const (
	// BudgetLimited is True while some covered policy gets less than it asks.
	BudgetLimited = "Limited"
	// BudgetMinimumsFit is False while the covered policies' minReplicas
	// alone request more than the budget's max.
	BudgetMinimumsFit = "MinimumsFit"
)
