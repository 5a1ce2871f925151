"""Alerts: rules, their evaluation (after every published run and on a schedule) and notification.

``alerts_evaluate`` (``firing``) observes each enabled rule on **the latest published run** and on the
state of governance and prices, then, per (rule, subject):

* condition starts  → a new ``AlertFiring`` and a ``fired`` notification;
* condition persists → the firing's value/run are updated; a ``renotify`` notification
  only when ``renotify_minutes`` (> 0) have passed since the last one;
* condition ends (or its subject is gone) → ``cleared_at`` is set and **one** ``cleared``
  notification is sent; the e-mail shows the value observed at clearing
  (``detail["cleared_value"]`` / ``detail["cleared_message"]``), not the old bad value.

A rule whose inputs are unknown (no published run yet, no snapshot, no recommendations)
keeps its state; so does one subject whose inputs are unknown (a market whose
recommendation has a note / no ``mmf_rec`` / no current MMF / no backtest): only a false
condition or a subject that is gone clears. "Health run failed" looks at the newest
*finished* run (succeeded or failed): a run in progress changes nothing.

Rule edits: the open firings of a **disabled** rule, and those opened while the rule had
another kind or market (``AlertFiring.rule_kind`` / ``rule_market``), are closed at the next
evaluation with a ``cleared`` notification that says why ("rule disabled" / "rule changed"):
the people who were told it fired are told the episode is over.

Ordering: all rules are locked (``select_for_update``) in one transaction, and the run is
chosen **after** the locks, so concurrent evaluations (beat and a run's publication)
serialize and each sees the newest committed run. A run id passed in (a publication) is a
trigger only: the latest published run is evaluated, and a trigger older than it is skipped
(its newer run's evaluation has run or will run), so a late or retried task never moves a
firing back to an old run.

Notifications are **digests**: the events of one rule in one evaluation (every market that
fired, is still firing with a renotify due, or cleared) are one ``AlertNotification`` with an
``AlertNotificationItem`` each, so one e-mail per recipient per rule per evaluation (issue
#12); each firing and clearing still has its own audit row. They are rows created in that transaction and sent after commit by
``alerts.notify`` with the claim-then-send protocol of report deliveries (a retried task
never sends one twice; a ``sending`` or ``sent`` row is never sent again); the scheduled
evaluation re-enqueues those still ``pending``/``failed`` after ``NOTIFY_RETRY_AFTER``
(``alert_notifications_requeue``). Recipients are the active members of the rule's roles,
one per e-mail address (case-insensitive).

Units per kind: ``AlertKind`` labels. Observed values are stored as ``Decimal`` (12 places).

Modules: ``models`` (rules, firings, notifications (digests) and their items; the reports app's tables, kept),
``evaluators`` (one function per rule kind → observations), ``firing`` (the state machine
of episodes: fire, persist, renotify, clear), ``outbox`` (digest rows, claim-then-send
e-mail), ``sweep`` (re-enqueue stuck notifications), ``services`` (the public write API and
the default rules), ``selectors`` (reads), ``tasks`` (``alerts.evaluate``, ``alerts.notify``),
``receivers`` (evaluation after a publication), ``views`` / ``urls`` (``/alerts/``), ``admin``.
"""
