"""The connection forms of Airflow 2.11, built from the same declarations Airflow 3 reads.

Airflow 3 reads each connection type's form from ``get_provider_info()``
(``conn-fields`` and ``ui-field-behaviour``) and never calls the hook methods
below. Airflow 2.11 reads only the hook classmethods ``get_ui_field_behaviour()``
and ``get_connection_form_widgets()``, and only from a class's own attributes;
each vendor hook gets them from :func:`with_connection_form`, built from the same
declarations, so there is one declaration of every form. ``wtforms`` and ``flask_appbuilder`` are imported
here, inside the functions: they exist only where a 2.11 web server runs.
"""

from __future__ import annotations

from typing import Any, TypeVar


def _declaration(conn_type: str) -> dict[str, Any]:
    from airflow_provider_pipelines import get_provider_info

    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return dict(entry)
    raise KeyError(f"no connection type {conn_type!r} in get_provider_info()")


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """Airflow 2.11's spelling (underscores) of the connection type's ``ui-field-behaviour``."""
    behaviour = _declaration(conn_type).get("ui-field-behaviour") or {}
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def form_widgets(conn_type: str) -> dict[str, Any]:
    """wtforms fields for the connection type's ``conn-fields``, as Airflow 2.11's form wants them.

    Numbers are text fields (a timeout of 0.5 s is valid), booleans check boxes, secrets
    password fields; an enum's choices are named in its description, and a declared default
    is the field's initial value. Values are stored in the connection's extras under the
    field's own name, as Airflow 3 stores them.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for name, spec in (_declaration(conn_type).get("conn-fields") or {}).items():
        schema = spec.get("schema") or {}
        kinds = schema.get("type") or []
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        description = str(spec.get("description") or "")
        if schema.get("enum"):
            description += " One of: " + ", ".join(str(v) for v in schema["enum"]) + "."
        label = lazy_gettext(spec.get("label") or name)
        # 2.11 saves an unticked check box as false, so a switch whose hook default is on must start
        # ticked; an empty text field is not saved at all (the hook's default applies)
        default = schema.get("default")
        if "boolean" in kinds:
            widgets[name] = BooleanField(label, description=description, default=bool(default))
        elif schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
        else:
            widgets[name] = StringField(
                label, widget=BS3TextFieldWidget(), description=description, default=default
            )
    return widgets


H = TypeVar("H", bound=type)


def with_connection_form(cls: H) -> H:
    """Class decorator: give a hook class the two form classmethods Airflow 2.11 looks for.

    They are set on the class itself because 2.11 reads them from the class's own
    ``__dict__``, never from a base class.
    """

    def get_ui_field_behaviour(hook: type) -> dict[str, Any]:
        return ui_field_behaviour(hook.conn_type)  # type: ignore[attr-defined]

    def get_connection_form_widgets(hook: type) -> dict[str, Any]:
        return form_widgets(hook.conn_type)  # type: ignore[attr-defined]

    cls.get_ui_field_behaviour = classmethod(get_ui_field_behaviour)  # type: ignore[attr-defined]
    cls.get_connection_form_widgets = classmethod(get_connection_form_widgets)  # type: ignore[attr-defined]
    return cls
