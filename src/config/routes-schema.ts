/**
 * The JSON Schema of ROUTES_FILE, used by routes-file.ts at start-up. Also
 * shipped as schema/routes.schema.json for editors (a unit test keeps the two
 * identical); a module rather than a file read at run time, so the built
 * image needs nothing besides dist/.
 */
export const routesSchema = {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "https://github.com/oidc-bff/oidc-bff/schema/routes.schema.json",
  "title": "oidc-bff routes file (ROUTES_FILE)",
  "description": "Per-route policies of the reverse proxy. See docs/proxy.md.",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "routes"
  ],
  "properties": {
    "routes": {
      "type": "array",
      "items": {
        "$ref": "#/definitions/route"
      }
    }
  },
  "definitions": {
    "route": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "prefix",
        "target"
      ],
      "properties": {
        "prefix": {
          "type": "string",
          "minLength": 1,
          "description": "Path prefix, matched on a segment boundary; the longest wins."
        },
        "target": {
          "type": "string",
          "minLength": 1,
          "description": "http:// or https:// base URL of the upstream."
        },
        "auth": {
          "enum": [
            "required",
            "optional",
            "none"
          ],
          "default": "required"
        },
        "roles": {
          "type": "object",
          "additionalProperties": false,
          "minProperties": 1,
          "properties": {
            "anyOf": {
              "$ref": "#/definitions/roleList"
            },
            "allOf": {
              "$ref": "#/definitions/roleList"
            }
          }
        },
        "token": {
          "default": "user",
          "oneOf": [
            {
              "enum": [
                "user",
                "none",
                "client"
              ]
            },
            {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "type"
              ],
              "properties": {
                "type": {
                  "enum": [
                    "user",
                    "none"
                  ]
                }
              }
            },
            {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "type",
                "audience"
              ],
              "properties": {
                "type": {
                  "const": "exchange"
                },
                "audience": {
                  "type": "string",
                  "minLength": 1
                },
                "scope": {
                  "type": "string",
                  "minLength": 1
                }
              }
            },
            {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "type"
              ],
              "properties": {
                "type": {
                  "const": "client"
                },
                "scope": {
                  "type": "string",
                  "minLength": 1
                }
              }
            }
          ]
        },
        "csrf": {
          "type": "boolean",
          "default": true
        },
        "websocket": {
          "type": "boolean",
          "default": true
        },
        "timeoutMs": {
          "type": "integer",
          "minimum": 1,
          "maximum": 600000
        },
        "stripPrefix": {
          "type": "boolean",
          "default": true
        },
        "dpop": {
          "type": "boolean",
          "default": false,
          "description": "Send the user's token as Authorization: DPoP with a fresh DPoP proof (RFC 9449); needs OIDC_DPOP=true."
        },
        "acr": {
          "type": "array",
          "minItems": 1,
          "uniqueItems": true,
          "description": "Step-up (RFC 9470): the session's acr must be one of these (sent as acr_values); needs auth: required.",
          "items": {
            "type": "string",
            "pattern": "^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$"
          }
        },
        "maxAuthAgeSeconds": {
          "type": "integer",
          "minimum": 1,
          "description": "Step-up (RFC 9470): the user must have authenticated at most this many seconds ago (sent as max_age); needs auth: required."
        },
        "userHeaders": {
          "type": "array",
          "uniqueItems": true,
          "items": {
            "enum": [
              "X-User-Sub",
              "X-User-Email",
              "X-User-Roles"
            ]
          }
        }
      }
    },
    "roleList": {
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {
        "type": "string",
        "pattern": "^[^\\s,]+$"
      }
    }
  }
} as const;
