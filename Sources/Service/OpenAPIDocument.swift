/// The service's OpenAPI 3.1 description, served at `/openapi.json`. A test checks that every
/// route the router serves is described here.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "Tracemark forensic service",
        "version": "1",
        "description": "Register sealed watermark specs, probe suspect model APIs for them in the background, and fetch signed evidence reports. Every /v1 route except health and signing-key needs 'Authorization: Bearer <token>'; another tenant's ids answer 404 like ids that do not exist. Errors are {\"error\": {\"code\", \"message\"}} with stable codes. Each tenant has quotas (watermarks, trigger-set bytes, investigations queued or running); a request beyond one answers 429 with the code quota_exceeded and a message naming the quota."
      },
      "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        "responses": {
          "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "schemas": {
          "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
              "code": {"type": "string", "enum": ["unauthorized", "not_found", "method_not_allowed", "payload_too_large", "invalid_json",
                                                  "invalid_name", "invalid_model_digest", "invalid_spec", "model_digest_mismatch", "invalid_files",
                                                  "invalid_calibration", "calibration_mismatch", "invalid_fingerprint", "invalid_investigation", "target_not_allowed",
                                                  "watermark_not_calibrated", "report_not_ready", "file_missing", "quota_exceeded",
                                                  "invalid_idempotency_key", "idempotency_key_reused", "idempotency_key_in_use",
                                                  "investigation_finished", "internal"]},
              "message": {"type": "string"}}}}
          },
          "WatermarkRegistration": {
            "type": "object", "required": ["name", "spec", "model_digest"],
            "properties": {
              "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "No control characters (NUL, line breaks)."},
              "spec": {"type": "object", "description": "The watermark spec as `tracemark embed` writes it; sealed in the service's vault, never returned."},
              "model_digest": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$", "description": "SHA-256 of the protected model file."},
              "files": {"type": "object", "additionalProperties": {"type": "string", "contentEncoding": "base64"}, "description": "Autoencoder weights the spec names, by file name."},
              "fingerprint": {"type": "string", "contentEncoding": "base64", "description": "A fingerprint of the model (tracemark fingerprint make): sealed with the spec, which then names its SHA-256; investigations query it as a second evidence channel."},
              "calibration": {"$ref": "#/components/schemas/Calibration"}
            }
          },
          "Calibration": {"type": "object", "description": "A tracemark.calibration/v1 document as `tracemark calibrate --out` writes it, for this spec."},
          "Watermark": {
            "type": "object",
            "properties": {
              "id": {"type": "string"}, "name": {"type": "string"}, "created": {"type": "string", "format": "date-time"},
              "dataset": {"type": "string"}, "model_digest": {"type": "string"}, "commitment": {"type": "string"},
              "record_id": {"type": "string"},
              "sealed_bytes": {"type": "integer", "description": "Bytes sealed in the vault for it (spec, trigger set, weights): what counts against the trigger-set bytes quota."},
              "calibrated": {"type": "boolean"}, "p0": {"type": "number"}
            }
          },
          "InvestigationRequest": {
            "type": "object", "required": ["watermark", "target"],
            "properties": {
              "watermark": {"type": "string"},
              "target": {"type": "object", "description": "The suspect's API as for `tracemark probe --target` (url, protocol, model, input, template, label_map, concurrency, rate_limit ≥ 0.5, max_attempts, timeout_ms 1–120000, connect_timeout_ms 1–30000, backoff_ms and max_backoff_ms 0–60000, max_response_bytes 1 B – 16 MiB, insecure); auth and ca_bundle are refused, and so are hosts on loopback, private or link-local addresses unless the operator allows them."},
              "triggers": {"type": "integer", "minimum": 1, "maximum": 20000, "default": 1000},
              "controls": {"type": "integer", "minimum": 0, "maximum": 20000, "default": 500},
              "decoys": {"type": "integer", "minimum": 0, "maximum": 20000, "default": 500},
              "fingerprints": {"type": "integer", "minimum": 0, "maximum": 20000, "description": "Fingerprint inputs to query when the watermark has a fingerprint (default: all of them)."},
              "fingerprint_decoys": {"type": "integer", "minimum": 0, "maximum": 20000, "description": "Fingerprint decoys to query (default: all of them)."},
              "seed": {"type": "integer", "default": 1},
              "stop_when_decisive": {"type": "boolean", "default": false}
            }
          },
          "Investigation": {
            "type": "object",
            "properties": {
              "id": {"type": "string"}, "watermark": {"type": "string"},
              "status": {"type": "string", "enum": ["queued", "running", "reporting", "done", "failed", "cancelled"]},
              "created": {"type": "string"}, "updated": {"type": "string"}, "target": {"type": "string"},
              "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}, "failed": {"type": "integer"}}},
              "verdict": {"type": "string", "enum": ["infringement", "no evidence", "inconclusive"]},
              "error": {"type": "string"},
              "links": {"type": "object", "additionalProperties": {"type": "string"}}
            }
          }
        }
      },
      "security": [{"token": []}],
      "paths": {
        "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/v1/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}},
        "/v1/signing-key": {"get": {"summary": "The Ed25519 public key that signs reports (PEM and key id)", "security": [],
          "responses": {"200": {"description": "The key"}}}},
        "/v1/watermarks": {
          "post": {"summary": "Seal and register a watermark spec",
                   "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                                   "description": "Makes a retry safe: a request with the tenant's earlier key and the same body returns the watermark registered then (nothing is registered twice); with another body it answers 422 idempotency_key_reused; while the first is still being processed, 409 idempotency_key_in_use. 1–255 printable ASCII characters."}],
                   "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WatermarkRegistration"}}}},
                   "responses": {"201": {"description": "Registered (or, for a retry with the same Idempotency-Key, registered before)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Watermark"}}}},
                                 "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                                 "409": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
                                 "422": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}}},
          "get": {"summary": "The caller's watermarks", "responses": {"200": {"description": "{items: [Watermark]}"}, "401": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/watermarks/{id}": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"summary": "One watermark", "responses": {"200": {"description": "The watermark", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Watermark"}}}},
                                                           "404": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/watermarks/{id}/calibration": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "put": {"summary": "Store (or replace) the watermark's calibration", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Calibration"}}}},
                  "responses": {"200": {"description": "The watermark, now calibrated"}, "404": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/investigations": {
          "post": {"summary": "Probe a suspect API for a watermark, in the background", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InvestigationRequest"}}}},
                   "responses": {"202": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Investigation"}}}},
                                 "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
                                 "429": {"$ref": "#/components/responses/Error"}}},
          "get": {"summary": "The caller's investigations", "responses": {"200": {"description": "{items: [Investigation]}"}}}
        },
        "/v1/investigations/{id}": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"summary": "Status and progress", "responses": {"200": {"description": "The investigation", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Investigation"}}}},
                                                                 "404": {"$ref": "#/components/responses/Error"}}},
          "delete": {"summary": "Cancel a queued or running investigation: it is cancelled at once and sends no further query (one in flight runs out the target's timeout); cancelling a cancelled one again is no error",
                     "responses": {"200": {"description": "The investigation, cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Investigation"}}}},
                                   "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/investigations/{id}/report": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"summary": "The signed evidence report (DSSE envelope over an in-toto statement); check it with `tracemark report verify --pubkey` and the signing key",
                  "responses": {"200": {"description": "DSSE envelope"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/investigations/{id}/report.html": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"summary": "The report as a self-contained HTML page", "responses": {"200": {"description": "text/html"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/investigations/{id}/transcript": {
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"summary": "The probe transcript (JSON Lines) the report commits to", "responses": {"200": {"description": "application/x-ndjson"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        }
      }
    }
    """#
}
