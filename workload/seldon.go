package workload

import (
	"crypto/md5" //nolint:gosec // the operator's naming, not security
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// What Seldon Core v1's operator (operator/controllers/seldondeployment_controller.go,
// createComponents) does with a SeldonDeployment's spec: one Deployment per predictor ×
// componentSpec that has containers, owned (controller reference) by the SeldonDeployment,
// whose replicas are, from the most specific, componentSpecs[j].replicas, predictors[i].replicas,
// spec.replicas; none of them when the componentSpec has a kedaSpec or an hpaSpec, from which it
// creates a KEDA ScaledObject or an HPA named after the Deployment instead. The SeldonDeployment's
// /scale is spec.replicas and status.replicas, the latter copied from the Deployment of
// predictors[0].componentSpecs[0] alone. Its defaulting webhook (operator/apis/.../defaults.go)
// first adds a container named after every prepackaged-server unit of the graph that no
// componentSpec has, to componentSpecs[0] or to a new one.

// ReplicasFrom says which field of the SeldonDeployment sets a Deployment's replicas.
type ReplicasFrom int

const (
	// FromSpec: spec.replicas, which the SeldonDeployment's /scale writes.
	FromSpec ReplicasFrom = iota
	// FromPredictor: spec.predictors[i].replicas.
	FromPredictor
	// FromComponent: spec.predictors[i].componentSpecs[j].replicas.
	FromComponent
	// FromHPA: an HPA the operator creates from componentSpecs[j].hpaSpec.
	FromHPA
	// FromKEDA: a KEDA ScaledObject the operator creates from componentSpecs[j].kedaSpec.
	FromKEDA
)

// SeldonComponent is one Deployment the operator makes for a SeldonDeployment.
type SeldonComponent struct {
	// Predictor is the predictor's name; PredictorIndex and Index its place and the
	// componentSpec's.
	Predictor             string
	PredictorIndex, Index int
	// Deployment is the name the operator gives the Deployment.
	Deployment string
	// Replicas is the field that sets its replicas, Field that field's path.
	Replicas ReplicasFrom
	Field    string
}

// SeldonScale is how the replicas of a SeldonDeployment's Deployments are set.
type SeldonScale struct {
	Name       string
	Components []SeldonComponent
}

// MaxSeldonGraphDepth bounds the walk of a predictor's graph: the spec is user input, and the
// operator itself recurses without a bound.
const MaxSeldonGraphDepth = 32

// The parts of Seldon's types the operator's replica rules read (seldondeployment_types.go).
type seldonSpec struct {
	Predictors []seldonPredictor `json:"predictors"`
}

type seldonPredictor struct {
	Name           string           `json:"name"`
	Replicas       *int32           `json:"replicas"`
	Graph          seldonUnit       `json:"graph"`
	ComponentSpecs []*seldonPodSpec `json:"componentSpecs"`
}

type seldonPodSpec struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name string `json:"name"`
		} `json:"containers"`
	} `json:"spec"`
	Replicas *int32    `json:"replicas"`
	HPASpec  *struct{} `json:"hpaSpec"`
	KEDASpec *struct{} `json:"kedaSpec"`
}

type seldonUnit struct {
	Name           string       `json:"name"`
	Implementation string       `json:"implementation"`
	Children       []seldonUnit `json:"children"`
}

// Seldon's implementations that are not prepackaged servers (prepack.go, IsPrepack).
var seldonBuiltins = map[string]bool{
	"": true, "UNKNOWN_IMPLEMENTATION": true, "SIMPLE_MODEL": true, "SIMPLE_ROUTER": true,
	"RANDOM_ABTEST": true, "AVERAGE_COMBINER": true,
}

// SeldonScaleOf computes, from the spec of the SeldonDeployment named name (as unstructured
// content), the Deployments the operator makes and what sets their replicas.
func SeldonScaleOf(name string, spec map[string]any) (SeldonScale, error) {
	var s seldonSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &s); err != nil {
		return SeldonScale{}, fmt.Errorf("SeldonDeployment %s: spec: %w", name, err)
	}
	out := SeldonScale{Name: name}
	for i := range s.Predictors {
		p := &s.Predictors[i]
		units, err := prepackaged(&p.Graph, nil, 0)
		if err != nil {
			return SeldonScale{}, fmt.Errorf("SeldonDeployment %s: spec.predictors[%d].graph: %w", name, i, err)
		}
		defaultContainers(p, units)
		for j, cs := range p.ComponentSpecs {
			if cs == nil || len(cs.Spec.Containers) == 0 {
				continue // the operator makes no Deployment for it
			}
			c := SeldonComponent{Predictor: p.Name, PredictorIndex: i, Index: j, Deployment: seldonDeploymentName(name, p.Name, j, cs)}
			comp := fmt.Sprintf("spec.predictors[%d].componentSpecs[%d]", i, j)
			switch {
			case cs.KEDASpec != nil:
				c.Replicas, c.Field = FromKEDA, comp+".kedaSpec"
			case cs.HPASpec != nil:
				c.Replicas, c.Field = FromHPA, comp+".hpaSpec"
			case cs.Replicas != nil:
				c.Replicas, c.Field = FromComponent, comp+".replicas"
			case p.Replicas != nil:
				c.Replicas, c.Field = FromPredictor, fmt.Sprintf("spec.predictors[%d].replicas", i)
			default:
				c.Replicas, c.Field = FromSpec, "spec.replicas"
			}
			out.Components = append(out.Components, c)
		}
	}
	return out, nil
}

// prepackaged lists the graph's prepackaged-server units in the operator's order (the unit,
// then its children, depth first).
func prepackaged(u *seldonUnit, out []string, depth int) ([]string, error) {
	if depth >= MaxSeldonGraphDepth {
		return nil, fmt.Errorf("nests deeper than %d units", MaxSeldonGraphDepth)
	}
	if !seldonBuiltins[u.Implementation] {
		out = append(out, u.Name)
	}
	for i := range u.Children {
		var err error
		if out, err = prepackaged(&u.Children[i], out, depth+1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// defaultContainers adds, as the defaulting webhook does, a container for each prepackaged
// unit no componentSpec has a container for.
func defaultContainers(p *seldonPredictor, units []string) {
	for _, u := range units {
		if hasContainer(p, u) {
			continue
		}
		c := struct {
			Name string `json:"name"`
		}{Name: u}
		if len(p.ComponentSpecs) > 0 && p.ComponentSpecs[0] != nil {
			p.ComponentSpecs[0].Spec.Containers = append(p.ComponentSpecs[0].Spec.Containers, c)
			continue
		}
		cs := &seldonPodSpec{}
		cs.Spec.Containers = append(cs.Spec.Containers, c)
		p.ComponentSpecs = []*seldonPodSpec{cs}
	}
}

func hasContainer(p *seldonPredictor, name string) bool {
	for _, cs := range p.ComponentSpecs {
		if cs == nil {
			continue
		}
		for _, c := range cs.Spec.Containers {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// seldonDeploymentName is the operator's GetDeploymentName: "<sdep>-<predictor>-<j>-" and the
// componentSpec's metadata.name or its containers' names joined by "-"; over 63 characters,
// "seldon-" and the MD5 of that name (the operator's default, without
// DEPLOYMENT_NAME_AS_PREFIX).
func seldonDeploymentName(sdep, predictor string, j int, cs *seldonPodSpec) string {
	name := sdep + "-" + predictor + "-" + strconv.Itoa(j) + "-"
	if cs.Metadata.Name != "" {
		name += cs.Metadata.Name
	} else {
		names := make([]string, len(cs.Spec.Containers))
		for k, c := range cs.Spec.Containers {
			names[k] = c.Name
		}
		name += strings.Join(names, "-")
	}
	if len(name) > 63 {
		sum := md5.Sum([]byte(name))
		return "seldon-" + hex.EncodeToString(sum[:])
	}
	return name
}

// Overridden lists the components whose replicas a write of spec.replicas (the /scale) does
// not change, because a more specific field or an autoscaler of Seldon's sets them.
func (s SeldonScale) Overridden() []SeldonComponent {
	var out []SeldonComponent
	for _, c := range s.Components {
		if c.Replicas != FromSpec {
			out = append(out, c)
		}
	}
	return out
}

// Counted is the Deployment whose pods stand for the SeldonDeployment's replicas: that of
// predictors[0].componentSpecs[0], whose status.replicas the operator copies into the
// SeldonDeployment's (its /scale's status.replicas); else the first component. Counting every
// pod of the SeldonDeployment would count each predictor (canary, shadow) and componentSpec
// again, as many pods per replica as it has Deployments.
func (s SeldonScale) Counted() (SeldonComponent, bool) {
	if len(s.Components) == 0 {
		return SeldonComponent{}, false
	}
	return s.Components[0], true
}

// OverrideMessage says why spec.replicas does not scale the SeldonDeployment, naming each
// field that takes precedence over it, or "" when nothing does. HPA and KEDA components are
// left to the HPA-conflict check.
func (s SeldonScale) OverrideMessage() string {
	var fields []string
	for _, c := range s.Overridden() {
		if c.Replicas == FromPredictor || c.Replicas == FromComponent {
			fields = append(fields, c.Field)
		}
	}
	if len(fields) == 0 {
		return ""
	}
	return fmt.Sprintf("SeldonDeployment %s sets %s: Seldon's operator gives that precedence over spec.replicas, the field its /scale writes, "+
		"so scaling would not change its pods; remove it and set spec.replicas instead", s.Name, strings.Join(dedupe(fields), ", "))
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// DeploymentOf returns the Deployment a pod belongs to, from its controller owner: a
// ReplicaSet, which the Deployment controller names "<deployment>-<pod-template-hash>".
func DeploymentOf(pod Pod) (string, bool) {
	ref, ok := ControllerOf(pod.Owners)
	hash := pod.Labels["pod-template-hash"]
	if !ok || ref.Kind != ReplicaSet.Kind || hash == "" {
		return "", false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != ReplicaSet.Group {
		return "", false
	}
	name, found := strings.CutSuffix(ref.Name, "-"+hash)
	if !found || name == "" {
		return "", false
	}
	return name, true
}
