"""An independent Python statement of how herald maps GoCD bodies to its
event model (docs/events.md). The conformance tests compare what the daemon
stored with what this computes from the same bytes, field by field."""
from datetime import datetime, timedelta, timezone
import re

SCM_TYPES = ("git", "mercurial", "svn", "tfs", "perforce")
CANON = {v.lower(): v for v in (
    "Pending", "Enabled", "Disabled", "Idle", "Building", "LostContact", "Missing",
    "Cancelled", "Unknown")}


def utc(ts):
    """GoCD's timestamp (either form) as herald writes instants, or None."""
    if ts is None or ts == "":
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{3}))?(Z|[+-]\d{4})", ts)
    assert m, ts
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    ms = int(m.group(7) or 0)
    t = datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=timezone.utc)
    z = m.group(8)
    if z != "Z":
        sign = 1 if z[0] == "+" else -1
        t -= sign * timedelta(hours=int(z[1:3]), minutes=int(z[3:5]))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def material(m):
    t = m["type"]
    if t in SCM_TYPES:
        cfg = m[f"{t}-configuration"]
        return cfg.get("url"), cfg
    if t == "pipeline":
        cfg = m["pipeline-configuration"]
        return f'{cfg["pipeline-name"]}/{cfg["stage-name"]}', cfg
    if t == "package":
        return m["plugin-id"], {k: m[k] for k in (
            "plugin-id", "package-configuration", "repository-configuration")}
    if t == "scm":
        return m["plugin-id"], {k: m[k] for k in ("plugin-id", "scm-configuration")}
    raise AssertionError(t)


def stage_status(body, version):
    v = int(version[0])
    p = body["pipeline"]
    s = p["stage"]
    jobs = [{
        "name": j["name"], "state": j["state"], "result": j["result"],
        "agent_uuid": j.get("agent-uuid"),
        "scheduled_at": utc(j.get("schedule-time")),
        "assigned_at": utc(j.get("assign-time")) if v >= 2 else None,
        "completed_at": utc(j.get("complete-time")),
    } for j in s.get("jobs", [])]
    causes = []
    for c in p.get("build-cause") or []:
        desc, cfg = material(c["material"])
        mods = [{"revision": mo.get("revision"), "modified_at": utc(mo.get("modified-time")),
                 "data": mo.get("data") or {}} for mo in c.get("modifications") or []]
        causes.append({
            "material_type": c["material"]["type"], "material": desc,
            "fingerprint": c["material"].get("fingerprint") if v >= 4 else None,
            "config": cfg, "changed": bool(c.get("changed", False)),
            "revision": mods[0]["revision"] if mods else None, "modifications": mods,
        })
    return {
        "source": "gocd", "kind": "stage-status", "version": version,
        "pipeline": {"name": p["name"], "counter": p["counter"],
                     "label": p.get("label") if v >= 2 else None, "group": p.get("group")},
        "stage": {
            "name": s["name"], "counter": s["counter"], "state": s["state"],
            "result": s["result"], "approval_type": s.get("approval-type"),
            "approved_by": s.get("approved-by"),
            "previous_stage_name": s.get("previous-stage-name") if v >= 4 else None,
            "previous_stage_counter": s.get("previous-stage-counter", 0) if v >= 4 else 0,
            "created_at": utc(s.get("create-time")),
            "last_transition_at": utc(s.get("last-transition-time")),
            "jobs": jobs,
        },
        "build_cause": causes,
        "summary": {"name": f'{p["name"]}/{s["name"]}', "number": p["counter"],
                    "result": s["result"], "url": None},
    }


def agent_status(body, version):
    return {
        "source": "gocd", "kind": "agent-status", "version": version,
        "agent": {
            "uuid": body["uuid"], "host_name": body.get("host_name"),
            "ip_address": body.get("ip_address"),
            "operating_system": body.get("operating_system"),
            "free_space": body.get("free_space"),
            "config_state": CANON[body["agent_config_state"].lower()],
            "agent_state": CANON[body["agent_state"].lower()],
            "build_state": CANON[body["build_state"].lower()],
            "is_elastic": bool(body.get("is_elastic", False)),
            "transition_at": utc(body.get("transition_time")),
        },
    }


def expected(kind, body, version):
    return stage_status(body, version) if kind == "stage-status" else agent_status(body, version)
