"""schemas: the JSON Schemas of schemas/ applied to documents.

    engine      validating a document against one claudex schema (jsonschema, imported on use)
    validation  manifests, server folders, registry files and config files: every problem found
    memo        validation remembered by file identity, so start-up paths skip jsonschema

Imports the top-level modules only."""
