// Package convert turns the objects of other autoscalers into AutoscalingPolicies:
// autoscaling/v1 and v2 HorizontalPodAutoscalers, KEDA ScaledObjects, the hpaSpecs
// of a SeldonDeployment, KubeAI AIInferenceAutoscalerPolicies and MatrixInfer
// AutoscalingPolicies.
//
// Every field of a source is either carried over or named in a Note that says
// what became of it; a source that cannot be converted says why. Status and the
// metadata the API server sets (uid, resourceVersion, managedFields, ...) are not
// carried over. Each policy produced passes the webhook's validation.
package convert

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// NoteKind says what became of a source field.
type NoteKind string

const (
	// Changed: carried over with another value or a slightly different meaning.
	Changed NoteKind = "changed"
	// Dropped: inferscale has no equivalent; not carried over.
	Dropped NoteKind = "dropped"
	// NotConverted: a metric or trigger with no equivalent; the policy scales
	// without it, so it may scale differently from the source.
	NotConverted NoteKind = "not converted"
	// Action: something to do by hand for the policy to work as the source did.
	Action NoteKind = "to do"
)

// Note is what became of one field of the source.
type Note struct {
	Kind    NoteKind
	Path    string
	Message string
}

func (n Note) String() string {
	if n.Path == "" {
		return fmt.Sprintf("%s: %s", n.Kind, n.Message)
	}
	return fmt.Sprintf("%s %s: %s", n.Kind, n.Path, n.Message)
}

// Result is the outcome for one source object.
type Result struct {
	// Document is the index of the YAML document in its stream; Item the index
	// in a List's items, or -1.
	Document, Item int
	// Source names the object: "autoscaling/v2 HorizontalPodAutoscaler ai/llama".
	Source string
	// Policy is nil when the object was skipped or could not be converted.
	Policy *v1alpha1.AutoscalingPolicy
	// Skipped says why an object that is no autoscaler was left alone.
	Skipped string
	// Err says why the object could not be converted.
	Err   error
	Notes []Note
}

// Complete reports whether the policy does everything the source did but what
// its notes say changed or was dropped: no error, no unconverted metric.
func (r Result) Complete() bool {
	if r.Err != nil {
		return false
	}
	for _, n := range r.Notes {
		if n.Kind == NotConverted {
			return false
		}
	}
	return true
}

// Stream converts every document of a YAML or JSON stream, and every item of a
// List document (as `kubectl get -o yaml` writes).
func Stream(data []byte) ([]Result, error) {
	var results []Result
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return results, nil
		}
		if err != nil {
			return results, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			i--
			continue
		}
		var obj any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			results = append(results, Result{Document: i, Item: -1, Source: "document", Err: err})
			continue
		}
		if obj == nil {
			i--
			continue
		}
		m, ok := obj.(map[string]any)
		if !ok {
			results = append(results, Result{Document: i, Item: -1, Source: "document", Err: errors.New("not a Kubernetes object")})
			continue
		}
		if kind, _ := m["kind"].(string); strings.HasSuffix(kind, "List") {
			items, _ := m["items"].([]any)
			for j, item := range items {
				r := Object(item)
				r.Document, r.Item = i, j
				results = append(results, r)
			}
			continue
		}
		r := Object(m)
		r.Document, r.Item = i, -1
		results = append(results, r)
	}
}

// converter fills a policy from a source document, or fails the document.
type converter func(d *document, p *v1alpha1.AutoscalingPolicy)

// Object converts one decoded object (maps, lists and scalars as JSON decodes them).
func Object(obj any) Result {
	d := newDocument(obj)
	top := d.top()
	apiVersion, kind := top.get("apiVersion").str(), top.get("kind").str()
	meta := top.get("metadata")
	source := strings.TrimSpace(apiVersion + " " + kind + " " + objectName(meta))
	r := Result{Item: -1, Source: source}
	if len(d.errs) > 0 {
		r.Err = errors.New(strings.Join(d.errs, "; "))
		return r
	}
	conv, skip := converterFor(apiVersion, kind)
	if conv == nil {
		r.Skipped = skip
		return r
	}
	p := &v1alpha1.AutoscalingPolicy{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AutoscalingPolicy"}}
	policyMeta(meta, &p.ObjectMeta)
	top.get("status").use()
	conv(d, p)
	if len(d.errs) == 0 && p.Spec.TargetRef.Name != "" {
		d.leftovers()
	}
	r.Notes = d.notes
	switch {
	case len(d.errs) > 0:
		r.Err = errors.New(strings.Join(d.errs, "; "))
	case p.Spec.TargetRef.Name == "":
		// The converter found nothing to do (a SeldonDeployment without hpaSpec).
		r.Skipped = "no autoscaling configured"
		r.Notes = nil
	default:
		if errs := v1alpha1.ValidateAutoscalingPolicy(p); len(errs) > 0 {
			r.Err = fmt.Errorf("the converted policy is invalid: %w", errs.ToAggregate())
			return r
		}
		r.Policy = p
	}
	return r
}

func converterFor(apiVersion, kind string) (converter, string) {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	switch {
	case apiVersion == "autoscaling/v1" && kind == "HorizontalPodAutoscaler":
		return convertHPAv1, ""
	case (apiVersion == "autoscaling/v2" || apiVersion == "autoscaling/v2beta2") && kind == "HorizontalPodAutoscaler":
		return convertHPAv2, ""
	case apiVersion == "autoscaling/v2beta1" && kind == "HorizontalPodAutoscaler":
		return convertHPAv2beta1, ""
	case group == "keda.sh" && kind == "ScaledObject":
		return convertScaledObject, ""
	case group == "keda.sh" && kind == "ScaledJob":
		return failing("a ScaledJob starts Jobs for queued work; an AutoscalingPolicy scales a workload's replicas"), ""
	case group == "machinelearning.seldon.io" && kind == "SeldonDeployment":
		return convertSeldonDeployment, ""
	case group == "kubeai.io" && kind == "AIInferenceAutoscalerPolicy":
		return convertKubeAI, ""
	case strings.HasSuffix(group, "matrixinfer.ai") && kind == "AutoscalingPolicy":
		return convertMatrixInfer, ""
	case group == v1alpha1.GroupVersion.Group && kind == "AutoscalingPolicy":
		return nil, "already an AutoscalingPolicy (check it with inferscale validate)"
	}
	return nil, "not an autoscaler"
}

func failing(msg string) converter {
	return func(d *document, _ *v1alpha1.AutoscalingPolicy) {
		d.errs = append(d.errs, msg)
	}
}

func objectName(meta node) string {
	name, _ := meta.get("name").v.(string)
	if ns, _ := meta.get("namespace").v.(string); ns != "" {
		return ns + "/" + name
	}
	return name
}

// serverSet are the metadata fields the API server writes; a converted copy
// would be refused or meaningless.
var serverSet = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func policyMeta(meta node, out *metav1.ObjectMeta) {
	out.Name = meta.get("name").str()
	out.Namespace = meta.get("namespace").str()
	for _, f := range serverSet {
		meta.get(f).use()
	}
	labels := meta.get("labels")
	for _, k := range labels.keys() {
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = labels.get(k).str()
	}
	annotations := meta.get("annotations")
	for _, k := range annotations.keys() {
		a := annotations.get(k)
		if k == lastApplied {
			a.use() // kubectl writes it again on apply
			continue
		}
		if strings.Contains(k, "keda.sh/") || strings.Contains(k, "seldon.io/") {
			continue // the converter of that kind reads them
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[k] = a.str()
	}
	if owners := meta.get("ownerReferences").items(); len(owners) > 0 {
		owner := owners[0]
		owner.use()
		meta.get("ownerReferences").fail(fmt.Sprintf("owned by %s %s, whose controller manages it: convert that object instead",
			owner.get("kind").v, owner.get("name").v))
	}
	meta.get("generateName").drop("a converted policy keeps the source's name")
	meta.get("finalizers").drop("the source's finalizers belong to its controller")
}
