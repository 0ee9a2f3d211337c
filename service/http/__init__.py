"""The thin HTTP layer: one blueprint per audience, marshmallow schemas beside the views."""
