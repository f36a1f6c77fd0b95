// Package contract holds the test helpers that check real answers against
// the published machine-readable contract: the JSON Schemas of
// docs/schema (github.com/santhosh-tekuri/jsonschema/v6, draft 2020-12)
// and the OpenAPI 3.1 document docs/openapi.yaml of the webhook routes
// (github.com/getkin/kin-openapi, whose openapi3filter validates 3.1
// documents' schemas with the same JSON Schema 2020-12 engine).
//
// Tests read the files from the repository (the module root found from the
// package's directory, where go test runs): go:embed cannot reach up to
// docs/. Only tests import this package.
package contract
