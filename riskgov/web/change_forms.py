"""The committee's change forms: any number of changes of every governed kind in one submit.

Driven by the registry (:mod:`riskgov.core.subjects`): a kind that declares ``form_fields``,
``form_tables`` and ``form_subjects()`` is offered, and its change row is built from those
declarations — nothing here knows a market from an asset, the policy or PM parameters.

One Django formset (prefix ``changes``) holds the change rows; row ``i`` has the hidden
``kind``, the ``subject`` select, the hidden ``loaded`` (the subject whose values the row
was filled from), ``DELETE`` (remove the change), one input per ``FormField`` and one nested
formset per ``FormTable`` (prefix ``changes-i-<table>``, rows with their own ``DELETE``).

Everything is carried in the POST data, so nothing typed is lost: the server-side actions
(``add:<kind>``, ``load:<i>``, ``addrow:<i>:<table>``, see :func:`apply_action`) change the
data and the page is shown again from it. The forms only parse text (fractions as ``0.5 %``
or ``0.005``); every rule is the services' (``riskgov.governance.services``), whose findings
``{subject, bracket, field, rule, message}`` :func:`place_errors` puts on the row and field.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

from django import forms

from riskgov.core.subjects import FormField, FormTable, SubjectKind, registered_kinds
from riskgov.presentation import formats
from riskgov.web.forms import FractionField

PREFIX = "changes"
MAX_CHANGES = 50
_ATTRS = {"inputmode": "decimal", "class": "num", "autocomplete": "off"}
_WHERE = re.compile(r"^changes\[(\d+)\]")


def form_kinds() -> list[SubjectKind]:
    """The registered kinds the forms offer (those declaring their form inputs), in order."""
    return [k for k in registered_kinds() if hasattr(k, "form_fields") and hasattr(k, "form_subjects")]


def form_kind(name: str) -> SubjectKind | None:
    """The offered kind called ``name``, or None."""
    return next((k for k in form_kinds() if k.name == name), None)


def _input(fld: FormField) -> forms.Field:
    """The Django field for one declared input (never required: an empty input means what
    ``fld.empty`` says, and the services name what is missing)."""
    if fld.unit == "fraction":
        return FractionField(
            label=fld.label, required=False, help_text=fld.help, widget=forms.TextInput(attrs=dict(_ATTRS))
        )
    if fld.unit == "choice":
        return forms.ChoiceField(label=fld.label, required=False, choices=[("", "—"), *((c, c) for c in fld.choices)])
    return forms.DecimalField(
        label=fld.label, required=False, help_text=fld.help, widget=forms.TextInput(attrs=dict(_ATTRS))
    )


def _empty(fld: FormField) -> Any:
    return None if fld.empty == "null" else ""


class TableRowForm(forms.Form):
    """One row of a table (a bracket, an extended move, a scenario)."""

    columns: tuple[FormField, ...] = ()

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return all(data.get(c.name) in (None, "") for c in self.columns)

    def as_spec(self) -> dict[str, Any]:
        """The row as the spec's dict; an empty cell is sent as ``""`` so the service names
        the row and the field."""
        data = self.cleaned_data
        return {c.name: _empty(c) if data.get(c.name) in (None, "") else data[c.name] for c in self.columns}


@functools.cache
def table_formset(kind_name: str, table_name: str) -> type[forms.BaseFormSet]:
    """The formset class of one kind's table (rows removable, bounded)."""
    kind = form_kind(kind_name)
    table = next(t for t in kind.form_tables if t.name == table_name)  # type: ignore[union-attr]
    attrs: dict[str, Any] = {c.name: _input(c) for c in table.columns}
    row_form = type(f"{kind_name.title()}{table_name.title()}Row", (TableRowForm,), {**attrs, "columns": table.columns})
    return forms.formset_factory(
        row_form, extra=0, can_delete=True, max_num=table.max_rows, absolute_max=table.max_rows + 10
    )


class ChangeRowForm(forms.Form):
    """One change of a proposal: its kind, subject and the kind's inputs and tables.

    Attributes:
        subject_kind: the registered kind (None when the posted kind is not offered).
        tables: table name → bound or unbound formset of its rows.
        change_errors: findings about the change as a whole (shown on the row).
        table_errors: table name → findings about the table (``extended``…).
        table_row_errors: (table, form row index) → findings (``bracket`` k).
    """

    kind = forms.CharField(widget=forms.HiddenInput)
    loaded = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, kind_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subject_kind = form_kind(kind_name)
        self.change_errors: list[str] = []
        self.table_errors: dict[str, list[str]] = {}
        self.table_row_errors: dict[tuple[str, int], list[str]] = {}
        self.tables: dict[str, forms.BaseFormSet] = {}
        kind = self.subject_kind
        if kind is None:
            return
        symbols = list(kind.form_subjects())
        current = self.data.get(self.add_prefix("subject")) if self.is_bound else None
        if current and current not in symbols:  # a change of a subject no longer active: the service decides
            symbols.append(str(current))
        self.fields["subject"] = forms.ChoiceField(
            label=kind.label[:1].upper() + kind.label[1:], choices=[(s, s) for s in symbols]
        )
        for fld in kind.form_fields:
            self.fields[fld.name] = _input(fld)
        for table in kind.form_tables:
            cls = table_formset(kind.name, table.name)
            self.tables[table.name] = cls(
                self.data if self.is_bound else None, prefix=f"{self.prefix}-{table.name}", form_kwargs={}
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.subject_kind is None:
            raise forms.ValidationError(f"unknown change kind {self.data.get(self.add_prefix('kind'), '')!r}")
        return data

    def is_valid(self) -> bool:
        ok = super().is_valid()
        return all([t.is_valid() for t in self.tables.values()]) and ok

    def spec(self) -> tuple[dict[str, Any], dict[str, list[int]]]:
        """The change as a service spec, and for each table the form row index of each row
        sent (blank and removed rows are skipped), so a finding's ``bracket`` k lands on
        the row the person typed.

        An empty input follows its declaration (``FormField.empty``): left out (the
        service keeps the active value), ``None`` or ``""``.
        """
        kind, data = self.subject_kind, self.cleaned_data
        assert kind is not None  # a valid row has a kind
        spec: dict[str, Any] = {kind.name: data["subject"]}
        for fld in kind.form_fields:
            value = data.get(fld.name)
            if value not in (None, ""):
                spec[fld.name] = value
            elif fld.empty != "omit":
                spec[fld.name] = _empty(fld)
        places: dict[str, list[int]] = {}
        for table in kind.form_tables:
            fs = self.tables[table.name]
            rows, index = [], []
            for j, rf in enumerate(fs.forms):
                if fs._should_delete_form(rf) or rf.is_blank():
                    continue
                rows.append(rf.as_spec())
                index.append(j)
            if rows:
                spec[table.name] = rows
            elif table.empty == "null":
                spec[table.name] = None
            places[table.name] = index
        return spec, places


class BaseChangeFormSet(forms.BaseFormSet):
    """The change rows; each row's form is built for the kind its data names."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kind = ""
        if index is not None and self.is_bound:
            kind = str(self.data.get(f"{self.add_prefix(index)}-kind", ""))
        return {"kind_name": kind}


ChangeFormSet = forms.formset_factory(
    ChangeRowForm,
    formset=BaseChangeFormSet,
    extra=0,
    can_delete=True,
    max_num=MAX_CHANGES,
    absolute_max=MAX_CHANGES + 10,
)


# --- the data the page is shown from ------------------------------------------------------
def _text(value: Any, fld: FormField | None = None) -> str:
    """A value as typed into an input: ``Decimal('0E-10')`` → ``'0'``, ``None`` → ``''``; a
    fraction field's value as exact percent text (``formats.fraction_input``: ``0.0035`` →
    ``'0.35 %'``, which the field reads back to the same ``Decimal``)."""
    if value is None:
        return ""
    if fld is not None and fld.unit == "fraction":
        return formats.fraction_input(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _text(Decimal(str(value)))
    try:
        return _text(Decimal(str(value))) if re.fullmatch(r"-?\d+(\.\d+)?(E[-+]?\d+)?", str(value)) else str(value)
    except ArithmeticError:
        return str(value)


def _management(prefix: str, total: int, max_num: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": str(max_num),
    }


def _table_data(prefix: str, table: FormTable, rows: Any) -> dict[str, str]:
    rows = list(rows or [])
    names = [c.name for c in table.columns]
    out = _management(prefix, len(rows) + 1, table.max_rows)  # one blank row to type into
    for j, row in enumerate(rows):
        if isinstance(row, list | tuple):
            row = dict(zip(names, row, strict=False))
        for c in table.columns:
            out[f"{prefix}-{j}-{c.name}"] = _text(row.get(c.name), c)
    return out


def active_spec(kind: SubjectKind, symbol: str) -> dict[str, Any]:
    """The active version of ``symbol`` as a change spec (``{}`` when there is none)."""
    subject = kind.find_subject(symbol) if symbol else None
    active = kind.active_version(subject) if subject is not None else None
    return {} if active is None else kind.spec_of(symbol, active)


def row_data(index: int, kind: SubjectKind, symbol: str, spec: dict[str, Any]) -> dict[str, str]:
    """Change row ``index`` filled from ``spec`` (a change of the proposal or the active values)."""
    p = f"{PREFIX}-{index}"
    out = {f"{p}-kind": kind.name, f"{p}-subject": symbol, f"{p}-loaded": symbol}
    for fld in kind.form_fields:
        out[f"{p}-{fld.name}"] = _text(spec.get(fld.name), fld)
    for table in kind.form_tables:
        out.update(_table_data(f"{p}-{table.name}", table, spec.get(table.name)))
    return out


def form_data(head: dict[str, Any], changes: list[tuple[SubjectKind, str, dict[str, Any]]]) -> dict[str, str]:
    """The whole page's data: the proposal's fields and its change rows."""
    data = {k: "" if v is None else v for k, v in head.items()}
    data.update(_management(PREFIX, len(changes), MAX_CHANGES))
    for i, (kind, symbol, spec) in enumerate(changes):
        data.update(row_data(i, kind, symbol, spec))
    return data


def _count(data: dict[str, Any], prefix: str) -> int:
    try:
        return max(0, int(str(data.get(f"{prefix}-TOTAL_FORMS", "0"))))
    except ValueError:
        return 0


def _drop_row(data: dict[str, Any], index: int) -> None:
    p = f"{PREFIX}-{index}-"
    for key in [k for k in data if k.startswith(p)]:
        del data[key]


def stale_rows(data: dict[str, Any]) -> list[int]:
    """Rows whose subject was switched without loading its values (no script ran)."""
    out = []
    for i in range(min(_count(data, PREFIX), MAX_CHANGES)):
        p = f"{PREFIX}-{i}"
        if data.get(f"{p}-DELETE"):
            continue
        subject = data.get(f"{p}-subject", "")
        if subject and subject != data.get(f"{p}-loaded", ""):
            out.append(i)
    return out


def load_row(data: dict[str, Any], index: int) -> str:
    """Fill row ``index`` with the active values of the subject it names (the rest of the
    data is untouched). Returns a notice, or ``""`` when the row cannot be loaded."""
    p = f"{PREFIX}-{index}"
    kind = form_kind(str(data.get(f"{p}-kind", "")))
    symbol = str(data.get(f"{p}-subject", ""))
    if kind is None or symbol not in kind.form_subjects():
        return ""
    _drop_row(data, index)
    data.update(row_data(index, kind, symbol, active_spec(kind, symbol)))
    return f"Change {index + 1} now shows the active values of {kind.label} {symbol}; edit them, then save."


def apply_action(data: dict[str, Any], action: str) -> str:
    """Apply a server-side form action to ``data`` (in place); returns a notice for the page.

    ``add:<kind>`` adds a change row of that kind (its first subject not yet changed, with
    its active values); ``load:<i>`` fills row ``i`` with the active values of the subject
    now selected; ``addrow:<i>:<table>`` adds a blank row to a table of row ``i``. An unknown
    or out-of-range action changes nothing.
    """
    name, _, arg = action.partition(":")
    if name == "add":
        kind = form_kind(arg)
        n = _count(data, PREFIX)
        if kind is None or n >= MAX_CHANGES:
            return ""
        used = {data.get(f"{PREFIX}-{i}-subject") for i in range(n) if data.get(f"{PREFIX}-{i}-kind") == kind.name}
        symbols = list(kind.form_subjects())
        symbol = next((s for s in symbols if s not in used), symbols[0] if symbols else "")
        data.update(row_data(n, kind, symbol, active_spec(kind, symbol)))
        data[f"{PREFIX}-TOTAL_FORMS"] = str(n + 1)
        return f"Change {n + 1} added: {kind.label} {symbol}."
    if name == "load":
        try:
            index = int(arg)
        except ValueError:
            return ""
        return load_row(data, index) if 0 <= index < _count(data, PREFIX) else ""
    if name == "addrow":
        i, _, table_name = arg.partition(":")
        try:
            index = int(i)
        except ValueError:
            return ""
        kind = form_kind(str(data.get(f"{PREFIX}-{index}-kind", "")))
        table = next((t for t in kind.form_tables if t.name == table_name), None) if kind else None
        if table is None:
            return ""
        prefix = f"{PREFIX}-{index}-{table.name}"
        n = _count(data, prefix)
        if n < table.max_rows:
            data.update(_management(prefix, n + 1, table.max_rows))
        return ""
    return ""


# --- specs and findings -------------------------------------------------------------------
def change_specs(formset: forms.BaseFormSet) -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, list[int]]]]]:
    """The specs of the rows kept (removed rows skipped), and for spec ``i`` its form index
    and table row places (``changes[i]`` in a finding is the i-th spec)."""
    specs, places = [], []
    for i, form in enumerate(formset.forms):
        if formset._should_delete_form(form):
            continue
        spec, tables = form.spec()
        specs.append(spec)
        places.append((i, tables))
    return specs, places


def _has(kind: SubjectKind, field: str) -> bool:
    names = {f.name for f in kind.form_fields} | {t.name for t in kind.form_tables}
    names |= {c.name for t in kind.form_tables for c in t.columns}
    return field in names


def _row_for(e: dict[str, Any], formset: forms.BaseFormSet, places: list[tuple[int, Any]]) -> ChangeRowForm | None:
    m = _WHERE.match(str(e.get("where") or ""))
    if m and int(m.group(1)) < len(places):
        return formset.forms[places[int(m.group(1))][0]]
    subject = e.get("subject") or ""
    if not subject:
        return None
    rows = [formset.forms[i] for i, _ in places]
    mine = [r for r in rows if (getattr(r, "cleaned_data", None) or {}).get("subject") == subject]
    if len(mine) > 1:  # e.g. BTC's haircut and BTC's PM parameters: the one with that field
        with_field = [r for r in mine if e.get("field") and _has(r.subject_kind, e["field"])]
        numbered = [r for r in mine if any(t.numbered for t in r.subject_kind.form_tables)]
        mine = with_field or (numbered if isinstance(e.get("bracket"), int) else []) or mine
    return mine[0] if mine else None


def place_errors(
    errors: list[dict[str, Any]],
    *,
    head: forms.Form,
    formset: forms.BaseFormSet,
    places: list[tuple[int, dict[str, list[int]]]],
) -> list[str]:
    """Put each finding where its structure says (never by parsing its text): on the change
    row of its subject (or ``changes[i]``), there on the table row of its ``bracket``, the
    input of its ``field`` or the table it names, else on the row; a proposal field
    (``effective_at``…) on the proposal's form. Returns what belongs to no place."""
    general: list[str] = []
    tables_of = {i: tables for i, tables in places}
    for e in errors:
        text = f"{e.get('message', '')} [rule: {e.get('rule', '')}]"
        field, bracket = e.get("field") or "", e.get("bracket")
        row = _row_for(e, formset, places)
        if row is None:
            if field in head.fields and not e.get("subject"):
                head.add_error(field, text)
            else:
                general.append(text)
            continue
        kind = row.subject_kind
        index = formset.forms.index(row)
        numbered = next((t for t in kind.form_tables if t.numbered), None)
        rows = tables_of.get(index, {}).get(numbered.name, []) if numbered else []
        if isinstance(bracket, int) and numbered is not None and 1 <= bracket <= len(rows):
            row.table_row_errors.setdefault((numbered.name, rows[bracket - 1]), []).append(text)
        elif field in row.fields and field not in ("kind", "loaded", "subject"):
            row.add_error(field, text)
        elif field in row.tables:
            row.table_errors.setdefault(field, []).append(text)
        else:
            row.change_errors.append(text)
    return general


# --- what the template shows --------------------------------------------------------------
_PATH = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")


def _active_tables(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``brackets[2].initial_margin_fraction`` paths → table → rows (in index order)."""
    grouped: dict[str, dict[int, dict[str, Any]]] = {}
    for path, v in values.items():
        m = _PATH.match(path)
        if m:
            grouped.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = v
    return {t: [rows[k] for k in sorted(rows)] for t, rows in grouped.items()}


def _shown(fld: FormField, value: Any, fmt: Any) -> str:
    if value is None:
        return "—"
    if fld.unit == "fraction":
        return fmt.fraction(value)
    if fld.unit == "choice":
        return str(value)
    return fmt.exact(value)


def page_rows(formset: forms.BaseFormSet, *, show_errors: bool) -> list[dict[str, Any]]:
    """Each change row as plain data for the template: inputs with their errors, the
    active value beside each, the tables' rows and the buttons' action values."""
    from riskgov.presentation import formats as fmt

    out = []
    for i, form in enumerate(formset.forms):
        kind = form.subject_kind
        if kind is None:
            out.append({"form": form, "index": i, "kind": None, "errors": list(form.non_field_errors())})
            continue
        subject = str(form["subject"].value() or "")
        found = kind.find_subject(subject) if subject else None
        active = kind.active_version(found) if found is not None else None
        values = kind.values(active)
        active_rows = _active_tables(values)
        fields = [
            {
                "bf": form[fld.name],
                "errors": list(form.errors.get(fld.name, [])) if show_errors else [],
                "active": _shown(fld, values.get(fld.name), fmt) if active is not None else "",
            }
            for fld in kind.form_fields
        ]
        tables = []
        for table in kind.form_tables:
            fs = form.tables[table.name]
            act = active_rows.get(table.name, [])
            rows = []
            for j, rf in enumerate(fs.forms):
                errors = list(form.table_row_errors.get((table.name, j), [])) if show_errors else []
                if show_errors:
                    errors += [f"{rf.fields[n].label}: {e}" for n, es in rf.errors.items() for e in es]
                a = act[j] if j < len(act) else None
                rows.append(
                    {
                        "cells": [rf[c.name] for c in table.columns],
                        "delete": rf["DELETE"],
                        "number": j + 1,
                        "errors": errors,
                        "active": " · ".join(_shown(c, a.get(c.name), fmt) for c in table.columns) if a else "",
                    }
                )
            tables.append(
                {
                    "table": table,
                    "management": fs.management_form,
                    "rows": rows,
                    "errors": (form.table_errors.get(table.name, []) + list(fs.non_form_errors()))
                    if show_errors
                    else [],
                    "add": f"addrow:{i}:{table.name}",
                    "has_active": bool(act),
                }
            )
        row_errors = (
            (form.change_errors + list(form.non_field_errors()) + list(form.errors.get("subject", [])))
            if show_errors
            else []
        )
        out.append(
            {
                "form": form,
                "index": i,
                "number": i + 1,
                "kind": kind,
                "subject": form["subject"],
                "active": active,
                "active_url": kind.version_url_name if active is not None else "",
                "fields": fields,
                "tables": tables,
                "errors": row_errors,
                "load": f"load:{i}",
            }
        )
    return out
