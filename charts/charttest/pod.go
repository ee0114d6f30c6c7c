package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Node is what the kubelet would provide to the rendered pod: the Secrets of
// its namespace, the files of its host and its IP.
type Node struct {
	Secrets   map[string]map[string][]byte // name -> key -> content
	HostFiles map[string][]byte            // host path -> content
	HostIP    string
}

// Container lays out the rendered Deployment's volumes as the kubelet would
// (ConfigMaps from the same rendering, Secrets and host files from node), each
// at its mountPath, and returns the container's arguments with $(VAR)
// expanded from its env. Every mountPath must lie under root: the tests
// render the chart with mountPath set to a temporary directory.
func Container(m Manifest, node Node, root string) ([]string, error) {
	dep, err := One[appsv1.Deployment](m)
	if err != nil {
		return nil, err
	}
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range All[corev1.ConfigMap](m) {
		configMaps[cm.Name] = cm
	}
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly {
			return nil, fmt.Errorf("volume %s is mounted writable", vm.Name)
		}
		if !strings.HasPrefix(vm.MountPath, root+string(filepath.Separator)) {
			return nil, fmt.Errorf("volume %s is mounted at %s, outside mountPath %s", vm.Name, vm.MountPath, root)
		}
		v, ok := volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s names no volume", vm.Name)
		}
		var files map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			cm, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				return nil, fmt.Errorf("volume %s: ConfigMap %s is not part of the chart", v.Name, v.ConfigMap.Name)
			}
			files = map[string][]byte{}
			for k, s := range cm.Data {
				files[k] = []byte(s)
			}
			items = v.ConfigMap.Items
		case v.Secret != nil:
			s, ok := node.Secrets[v.Secret.SecretName]
			if !ok {
				return nil, fmt.Errorf("volume %s: the test provides no Secret %s", v.Name, v.Secret.SecretName)
			}
			files = s
			items = v.Secret.Items
		case v.HostPath != nil:
			b, ok := node.HostFiles[v.HostPath.Path]
			if !ok {
				return nil, fmt.Errorf("volume %s: the test provides no host file %s", v.Name, v.HostPath.Path)
			}
			if err := writeFile(vm.MountPath, b); err != nil {
				return nil, err
			}
			continue
		default:
			return nil, fmt.Errorf("volume %s: unexpected volume source", v.Name)
		}
		if len(items) > 0 {
			picked := map[string][]byte{}
			for _, it := range items {
				b, ok := files[it.Key]
				if !ok {
					return nil, fmt.Errorf("volume %s: no key %s", v.Name, it.Key)
				}
				picked[it.Path] = b
			}
			files = picked
		}
		for name, b := range files {
			if err := writeFile(filepath.Join(vm.MountPath, name), b); err != nil {
				return nil, err
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP":
			env[e.Name] = node.HostIP
		default:
			return nil, fmt.Errorf("env %s: unexpected source", e.Name)
		}
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = expand(a, env)
	}
	return args, nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with VAR's value as the kubelet does for args; an
// undefined reference stays as written (so a typo shows in the argument).
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
