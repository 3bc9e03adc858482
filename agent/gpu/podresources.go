package gpu

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// gpuResourcePrefix matches the NVIDIA device plugin's resources: nvidia.com/gpu and the
// MIG ones (nvidia.com/mig-1g.10gb, ...).
const gpuResourcePrefix = "nvidia.com/"

// PodGPUs asks the kubelet which GPU devices are allocated to the pod, through the
// PodResources v1 API (k8s.io/kubelet/pkg/apis/podresources/v1). It uses Get where the kubelet
// has it and List otherwise. The ids are what the device plugin reported: GPU or MIG UUIDs,
// or indexes.
//
// The two unary calls are made with net/http's h2c client and the protobuf wire encoding
// directly: linking grpc-go and the generated package for them would cost the sidecar about
// 4.5 MiB of resident memory. The tests speak to a real grpc-go server with the generated types.
func PodGPUs(ctx context.Context, socket, namespace, name string) ([]string, error) {
	tr := &http.Transport{
		Protocols: new(http.Protocols),
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType) // pod_name
	req = protowire.AppendString(req, name)
	req = protowire.AppendTag(req, 2, protowire.BytesType) // pod_namespace
	req = protowire.AppendString(req, namespace)
	res, err := unary(ctx, c, "Get", req)
	if err == nil {
		// GetPodResourcesResponse{pod_resources = 1}
		pod, err := firstField(res, 1)
		if err != nil {
			return nil, fmt.Errorf("pod resources Get %s/%s: %w", namespace, name, err)
		}
		_, _, ids, err := parsePodResources(pod)
		return ids, err
	}
	// Get is behind a feature gate on older kubelets; List works everywhere.
	var se *statusError
	if !errors.As(err, &se) || se.code != codeUnimplemented {
		return nil, fmt.Errorf("pod resources Get %s/%s: %w", namespace, name, err)
	}
	res, err = unary(ctx, c, "List", nil)
	if err != nil {
		return nil, fmt.Errorf("pod resources List: %w", err)
	}
	// ListPodResourcesResponse{repeated pod_resources = 1}
	var found []string
	ok := false
	err = eachBytesField(res, func(num protowire.Number, b []byte) error {
		if num != 1 || ok {
			return nil
		}
		n, ns, ids, err := parsePodResources(b)
		if err == nil && n == name && ns == namespace {
			found, ok = ids, true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pod resources List: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("pod resources List: pod %s/%s not found", namespace, name)
	}
	return found, nil
}

const codeUnimplemented = "12"

type statusError struct{ code, msg string }

func (e *statusError) Error() string {
	m, _ := url.PathUnescape(e.msg)
	return fmt.Sprintf("grpc status %s: %s", e.code, m)
}

// unary makes one gRPC unary call of /v1.PodResourcesLister/method over c.
func unary(ctx context.Context, c *http.Client, method string, msg []byte) ([]byte, error) {
	body := make([]byte, 5, 5+len(msg)) // uncompressed flag, big-endian length, message
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/v1.PodResourcesLister/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	code, msgText := res.Trailer.Get("Grpc-Status"), res.Trailer.Get("Grpc-Message")
	if code == "" { // a trailers-only answer carries the status in the headers
		code, msgText = res.Header.Get("Grpc-Status"), res.Header.Get("Grpc-Message")
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", res.StatusCode)
	}
	if code != "0" {
		return nil, &statusError{code: code, msg: msgText}
	}
	if len(b) < 5 || b[0] != 0 {
		return nil, errors.New("malformed or compressed gRPC message")
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(len(b)-5) < uint64(n) {
		return nil, errors.New("truncated gRPC message")
	}
	return b[5 : 5+n], nil
}

// parsePodResources reads PodResources{name = 1, namespace = 2, repeated containers = 3}
// and returns the ids of the GPU devices of every container.
func parsePodResources(b []byte) (name, namespace string, ids []string, err error) {
	err = eachBytesField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			name = string(v)
		case 2:
			namespace = string(v)
		case 3: // ContainerResources{repeated devices = 2}
			return eachBytesField(v, func(num protowire.Number, dev []byte) error {
				if num != 2 {
					return nil
				}
				// ContainerDevices{resource_name = 1, repeated device_ids = 2}
				var resource string
				var devIDs []string
				err := eachBytesField(dev, func(num protowire.Number, f []byte) error {
					switch num {
					case 1:
						resource = string(f)
					case 2:
						devIDs = append(devIDs, string(f))
					}
					return nil
				})
				if strings.HasPrefix(resource, gpuResourcePrefix) {
					ids = append(ids, devIDs...)
				}
				return err
			})
		}
		return nil
	})
	return name, namespace, ids, err
}

func firstField(b []byte, want protowire.Number) ([]byte, error) {
	var out []byte
	err := eachBytesField(b, func(num protowire.Number, v []byte) error {
		if num == want && out == nil {
			out = v
		}
		return nil
	})
	return out, err
}

// eachBytesField calls f for every length-delimited field of the message b and skips the rest.
func eachBytesField(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		if err := f(num, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
