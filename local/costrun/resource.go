package costrun

import (
	"strings"

	"github.com/spillwayhq/spillway/local/cloud"
)

// Resource roles: what a counted call addressed, named by its role in the
// deployment rather than by the deployment's names (Call.Resource). S3
// calls in the pipeline's bucket name the key's first segment without its
// slash ("staged", "data", "manifests", "failed", ...), or ResourceLakeMetadata
// and ResourceLakeData under the lake's warehouse prefix; "" is a call
// that names no key (a bucket operation, a multi-object delete). DynamoDB
// calls name the table's role (catalog, ledger, manifests, apikeys) and,
// in the manifests table, the item kind after a slash ("manifests/staged",
// "manifests/manifest"); several joined with "+". Other resources keep the
// edge's name.
const (
	ResourceLakeMetadata = "lake/metadata"
	ResourceLakeData     = "lake/data"
)

// resourceRole names the edge's resource res of a service's call by its
// role in the deployment o.
func resourceRole(o cloud.Outputs, service, res string) string {
	switch service {
	case "s3":
		bucket, key, ok := strings.Cut(res, "/")
		if !ok || bucket != o.Bucket {
			return res
		}
		if lake := lakePrefix(o.LakeWarehouse); lake != "" && strings.HasPrefix(key, lake+"/") {
			switch {
			case strings.HasSuffix(key, "/metadata/"):
				return ResourceLakeMetadata
			case strings.HasSuffix(key, "/data/"):
				return ResourceLakeData
			}
			return "lake"
		}
		first, _, _ := strings.Cut(key, "/")
		return first
	case "dynamodb":
		roles := map[string]string{o.CatalogTable: "catalog", o.LedgerTable: "ledger", o.ManifestTable: "manifests", o.APIKeysTable: "apikeys"}
		parts := strings.Split(res, "+")
		for i, p := range parts {
			table, kind, _ := strings.Cut(p, "/")
			if r, ok := roles[table]; ok && table != "" {
				parts[i] = r
				if kind != "" {
					parts[i] += "/" + kind
				}
			}
		}
		return strings.Join(parts, "+")
	}
	return res
}

// lakePrefix is the first key segment of a warehouse URL
// (s3://bucket/lake -> "lake"), or "".
func lakePrefix(warehouse string) string {
	rest, ok := strings.CutPrefix(warehouse, "s3://")
	if !ok {
		return ""
	}
	_, key, _ := strings.Cut(rest, "/")
	first, _, _ := strings.Cut(strings.Trim(key, "/"), "/")
	return first
}
