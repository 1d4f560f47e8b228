package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/stack-dev/stack/spec"
)

// volumeUsers applies the StatefulSet rule: a service that mounts a named
// volume no other selected service mounts becomes a StatefulSet, and the
// volume one of its volumeClaimTemplates, so that each replica keeps its
// own claim across restarts and rescheduling (the identity a database's
// data directory needs). A volume that several services mount stays one
// shared PersistentVolumeClaim, and its services stay Deployments. It
// returns the volume → owning service map for the first kind.
func (c *converter) volumeUsers() map[string]string {
	users := map[string][]string{}
	for _, name := range c.p.ServiceNames() {
		seen := map[string]bool{}
		for _, v := range c.p.Services[name].Volumes {
			if v.Type != spec.VolumeTypeVolume || v.Source == "" || seen[v.Source] {
				continue
			}
			seen[v.Source] = true
			users[v.Source] = append(users[v.Source], name)
		}
	}
	owner := map[string]string{}
	for vol, svcs := range users {
		if tv := c.p.Volumes[vol]; len(svcs) == 1 && tv != nil && !tv.External {
			owner[vol] = svcs[0]
		}
	}
	return owner
}

// volumes makes a PersistentVolumeClaim for each named volume that
// selected services share.
func (c *converter) volumes() {
	used := map[string]bool{}
	for _, s := range c.p.Services {
		for _, v := range s.Volumes {
			if v.Type == spec.VolumeTypeVolume && v.Source != "" {
				used[v.Source] = true
			}
		}
	}
	for _, key := range sortedKeys(c.p.Volumes) {
		v := c.p.Volumes[key]
		p := at("volumes", key)
		if v.Driver != "" && v.Driver != "local" {
			c.warnf(p.with("driver"), "volume driver %q is ignored: the claim gets the storage class's volumes", v.Driver)
		}
		if !used[key] || v.External || c.claimOwner[key] != "" {
			continue
		}
		name := c.objectName(key, p, "volume")
		if name == "" {
			continue
		}
		c.add(&corev1.PersistentVolumeClaim{
			TypeMeta:   typeMeta("v1", "PersistentVolumeClaim"),
			ObjectMeta: c.meta(name, ""),
			Spec:       c.claimSpec(key),
		}, p)
	}
}

// claimName is the name of the claim a service mounts for named volume
// key: the volume's own name for an external volume.
func (c *converter) claimName(key string) string {
	if v := c.p.Volumes[key]; v != nil && v.External {
		return sanitize(v.Name)
	}
	return sanitize(key)
}

func sanitize(key string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, strings.ToLower(key))
}

// claimSpec is the claim of named volume key: x-kubernetes.volumes.KEY
// says its size, access mode and storage class.
func (c *converter) claimSpec(key string) corev1.PersistentVolumeClaimSpec {
	ve := c.ext.Volumes[key]
	size := resource.MustParse(DefaultVolumeSize)
	if ve.Size != nil {
		size = *ve.Size
	}
	mode := corev1.ReadWriteOnce
	if ve.AccessMode != "" {
		mode = corev1.PersistentVolumeAccessMode(ve.AccessMode)
	}
	spec := corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{mode},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
	}
	if sc := firstNonEmpty(ve.StorageClassName, c.ext.StorageClassName); sc != "" {
		spec.StorageClassName = ptr(sc)
	}
	return spec
}

// files makes a Secret (section secrets) or ConfigMap (section configs)
// for each top-level secret or config a selected service uses. Secrets
// never go into ConfigMaps.
func (c *converter) files(section string, objs map[string]*spec.FileObj) {
	used := map[string]bool{}
	for _, s := range c.p.Services {
		refs := s.Configs
		if section == "secrets" {
			refs = s.Secrets
		}
		for _, r := range refs {
			used[r.Source] = true
		}
	}
	for _, key := range sortedKeys(objs) {
		if !used[key] {
			continue
		}
		p := at(section, key)
		name := c.objectName(key, p, strings.TrimSuffix(section, "s"))
		data, ok := c.fileData(objs[key], p)
		if name == "" || !ok {
			continue
		}
		c.fileDataOf[section+"/"+key] = data
		meta := c.meta(name, "")
		if section == "secrets" {
			c.add(&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{key: data}}, p)
			continue
		}
		cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta}
		setConfigData(cm, key, data)
		c.add(cm, p)
	}
}

// setConfigData puts data under key, as text when it is UTF-8.
func setConfigData(cm *corev1.ConfigMap, key string, data []byte) {
	if isText(data) {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[key] = string(data)
		return
	}
	if cm.BinaryData == nil {
		cm.BinaryData = map[string][]byte{}
	}
	cm.BinaryData[key] = data
}

func isText(b []byte) bool {
	return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) && !strings.ContainsRune(string(b), 0)
}

// fileData reads the content of a top-level secret or config.
func (c *converter) fileData(f *spec.FileObj, p path) ([]byte, bool) {
	switch {
	case f.File != "":
		data, err := os.ReadFile(f.File)
		if err != nil {
			c.invalidf(p.with("file"), "read %s: %v", f.File, unwrapPathError(err))
			return nil, false
		}
		return data, true
	case f.Environment != "":
		for _, kv := range c.opts.Environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == f.Environment {
				return []byte(v), true
			}
		}
		c.invalidf(p.with("environment"), "variable %s is not set", f.Environment)
		return nil, false
	case f.Name != "" && f.Content == "":
		c.errorf(p, "external: the object must exist in the cluster already; stack does not look it up (define it with file: or content:)")
		return nil, false
	default:
		return []byte(f.Content), true
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// maxConfigMapBytes is the most a ConfigMap holds (etcd's 1 MiB object
// limit, with room for the object around the data).
const maxConfigMapBytes = 1000 * 1024

// bindConfigMap turns a read-only bind mount of a file or a flat directory
// inside the project directory into a ConfigMap with its files: the one
// kind of bind mount a cluster can reproduce (the files are copied when the
// manifests are made). Anything else is an error at p.
func (c *converter) bindConfigMap(svc, podName string, idx int, v spec.ServiceVolume, p path) (*corev1.ConfigMap, bool) {
	why := ""
	rel, err := filepath.Rel(c.p.WorkingDir, v.Source)
	switch {
	case err != nil || rel == ".." || strings.HasPrefix(rel, "../"):
		why = v.Source + " is outside the project directory"
	case !v.ReadOnly:
		why = "it is read-write (a read-only one of project files, :ro, becomes a ConfigMap)"
	}
	shown := v.Source
	if why == "" {
		shown = "./" + rel
	}
	if why != "" {
		c.errorf(p, "bind mount of %s: a cluster has no host paths to mount: %s; use a named volume, or a config", v.Source, why)
		return nil, false
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: c.meta(fmt.Sprintf("%s-files-%d", podName, idx), svc),
	}
	fi, err := os.Stat(v.Source)
	if err != nil {
		c.invalidf(p, "bind mount of %s: %v", v.Source, unwrapPathError(err))
		return nil, false
	}
	files := map[string]string{filepath.Base(v.Source): v.Source}
	if fi.IsDir() {
		files = map[string]string{}
		entries, err := os.ReadDir(v.Source)
		if err != nil {
			c.invalidf(p, "bind mount of %s: %v", v.Source, unwrapPathError(err))
			return nil, false
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				c.errorf(p, "bind mount of %s: %s is not a regular file: only a directory of files becomes a ConfigMap", v.Source, e.Name())
				return nil, false
			}
			files[e.Name()] = filepath.Join(v.Source, e.Name())
		}
	}
	total := 0
	for _, key := range sortedKeys(files) {
		data, err := os.ReadFile(files[key])
		if err != nil {
			c.invalidf(p, "bind mount of %s: %v", v.Source, unwrapPathError(err))
			return nil, false
		}
		total += len(data)
		setConfigData(cm, key, data)
	}
	if total > maxConfigMapBytes {
		c.errorf(p, "bind mount of %s: %d bytes is more than a ConfigMap holds (1 MiB): use a named volume", v.Source, total)
		return nil, false
	}
	c.warnf(p, "bind mount of %s: copied into ConfigMap %s; a change on disk needs another apply", shown, cm.Name)
	return cm, true
}
