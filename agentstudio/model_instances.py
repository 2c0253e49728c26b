"""Building unsaved model instances on the engine's hot path without `Model.__init__`.

A checkpoint builds a step row, a tool invocation and an audit row per step; Django's
constructor spends most of their cost on generality these rows do not need (positional
arguments, deferred fields, property keywords). `model_instance` gives the same instance:
every concrete field's value from the keywords or its default, a fresh `ModelState`
(adding, no database), and for a relation keyword (`run=`) its key and the related object
cached, as the constructor's descriptors do. Models with `pre_init`/`post_init` receivers
go through the constructor, so nothing that listens is skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=Model)


@functools.cache
def _plan(
    model: type[Model],
) -> tuple[tuple[tuple[str, Callable[[], Any]], ...], dict[str, tuple[str, str]]]:
    """(attname, default factory) of each concrete field, and for each relation named by its
    field name (`run`) the attname it sets (`run_id`) and the related object's key field."""
    fields = model._meta.concrete_fields
    defaults = tuple((field.attname, field._get_default) for field in fields)
    relations = {
        field.name: (field.attname, field.target_field.attname)
        for field in fields
        if field.is_relation
    }
    return defaults, relations


def model_instance(model: type[M], **values: Any) -> M:
    """`model(**values)`, for keyword arguments naming concrete fields (by name or attname)."""
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model(**values)
    defaults, relations = _plan(model)
    instance = model.__new__(model)
    instance._state = ModelState()
    attributes = instance.__dict__
    for attname, default in defaults:
        attributes[attname] = values[attname] if attname in values else default()
    for name, value in values.items():
        if name in relations:
            attname, key = relations[name]
            attributes[attname] = None if value is None else getattr(value, key)
            instance._state.fields_cache[name] = value
        elif name not in attributes:
            raise TypeError(f"{model.__name__}() got an unexpected keyword argument '{name}'")
    return instance
