package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// document is one decoded source object. Every field a converter reads, keeps
// or drops is marked, so whatever it did not look at is reported afterwards
// instead of vanishing.
type document struct {
	root  any
	used  map[string]bool
	notes []Note
	errs  []string
}

func newDocument(root any) *document {
	return &document{root: root, used: map[string]bool{}}
}

// node is the value at path in a document; v is nil when the field is absent.
type node struct {
	d    *document
	path string
	v    any
}

func (d *document) top() node { return node{d: d, v: d.root} }

func (n node) exists() bool { return n.v != nil }

// get returns the child field key; reading it does not mark it.
func (n node) get(key string) node {
	path := key
	if n.path != "" {
		path = n.path + "." + key
	}
	m, _ := n.v.(map[string]any)
	return node{d: n.d, path: path, v: m[key]}
}

// items returns the elements of a list; a value that is not a list is an error.
func (n node) items() []node {
	if n.v == nil {
		return nil
	}
	list, ok := n.v.([]any)
	if !ok {
		n.fail("must be a list")
		return nil
	}
	out := make([]node, len(list))
	for i, v := range list {
		out[i] = node{d: n.d, path: fmt.Sprintf("%s[%d]", n.path, i), v: v}
	}
	return out
}

// keys returns the field names of a map, sorted.
func (n node) keys() []string {
	m, _ := n.v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// use marks the node and everything under it as handled.
func (n node) use() { n.d.used[n.path] = true }

func (n node) fail(msg string) {
	n.use()
	n.d.errs = append(n.d.errs, n.path+": "+msg)
}

func (n node) note(kind NoteKind, msg string) {
	n.use()
	n.d.notes = append(n.d.notes, Note{Kind: kind, Path: n.path, Message: msg})
}

// drop reports a field that has no equivalent, when it is set.
func (n node) drop(msg string) {
	if n.exists() {
		n.note(Dropped, msg)
	}
}

func (n node) str() string {
	if n.v == nil {
		return ""
	}
	n.use()
	switch v := n.v.(type) {
	case string:
		return v
	case bool, float64:
		// KEDA's metadata values are strings, but YAML authors write numbers unquoted.
		return fmt.Sprint(v)
	}
	n.fail("must be a string")
	return ""
}

// int32 reads an integer field; ok is false when it is absent or invalid.
func (n node) int32() (int32, bool) {
	if n.v == nil {
		return 0, false
	}
	n.use()
	var f float64
	switch v := n.v.(type) {
	case float64:
		f = v
	case string:
		// KEDA and annotations carry numbers as strings.
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			n.fail(fmt.Sprintf("%q is not a number", v))
			return 0, false
		}
		f = p
	default:
		n.fail("must be an integer")
		return 0, false
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		n.fail(fmt.Sprintf("%v is not a 32-bit integer", f))
		return 0, false
	}
	return int32(f), true
}

func (n node) boolean(def bool) bool {
	switch v := n.v.(type) {
	case nil:
		return def
	case bool:
		n.use()
		return v
	case string:
		n.use()
		b, err := strconv.ParseBool(v)
		if err != nil {
			n.fail(fmt.Sprintf("%q is not true or false", v))
		}
		return b
	}
	n.fail("must be true or false")
	return def
}

// quantity reads a number or a Kubernetes quantity such as "500m".
func (n node) quantity() (resource.Quantity, bool) {
	if n.v == nil {
		return resource.Quantity{}, false
	}
	n.use()
	var s string
	switch v := n.v.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(v)
	default:
		n.fail("must be a number or a quantity")
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		n.fail(fmt.Sprintf("%q is not a quantity: %v", s, err))
		return resource.Quantity{}, false
	}
	return q, true
}

// decode reads the whole subtree into out, refusing fields out does not have.
func (n node) decode(out any) bool {
	n.use()
	raw, err := json.Marshal(n.v)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(out)
	}
	if err != nil {
		n.fail(err.Error())
		return false
	}
	return true
}

// leftovers reports every set field that no converter marked: nothing in the
// source is skipped silently.
func (d *document) leftovers() {
	var walk func(n node)
	walk = func(n node) {
		if d.used[n.path] {
			return
		}
		switch n.v.(type) {
		case map[string]any:
			for _, k := range n.keys() {
				walk(n.get(k))
			}
		case []any:
			for _, item := range n.items() {
				walk(item)
			}
		case nil:
		default:
			n.note(Dropped, "not converted: inferscale has no such field")
		}
	}
	walk(d.top())
}
