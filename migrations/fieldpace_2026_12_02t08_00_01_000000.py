"""Evaluation: unique keys, and the two ready scorecard templates (field reps, key account reps) that
follow the four dimensions of the method (销售业绩, 客户满意度, 行为规范, 成长潜力), in both languages."""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-02T08:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation: unique keys and the ready templates"

INDEXES = (
    "CREATE UNIQUE INDEX scorecard_template_version ON scorecard_template (code, version)",
    "CREATE UNIQUE INDEX evaluation_cycle_once ON evaluation_cycle (team, kind, period)",
    "CREATE UNIQUE INDEX rater_assignment_once ON rater_assignment (cycle, ratee, rater, role)",
    "CREATE UNIQUE INDEX evaluation_rating_once ON evaluation_rating (assignment, item)",
    "CREATE UNIQUE INDEX evaluation_score_once ON evaluation_score (cycle, rep)",
    "CREATE INDEX evaluation_audit_score ON evaluation_audit (score, at)",
)

# Anchored scales: five levels, lowest first, each the behaviour it means.
ANCHORS = {
    "service": [
        ("投诉无人跟进,客户多次催促仍未处理。", "Complaints go unanswered; customers chase repeatedly."),
        ("能处理问题但经常拖延,需要主管提醒。", "Handles issues, often late, needs reminders."),
        ("按约定时间处理售后与投诉,客户基本满意。", "Handles after-sales and complaints on time; customers are satisfied."),
        ("主动回访,问题当天响应,并记录原因防止再犯。", "Follows up unasked, answers the same day, records causes."),
        ("客户主动表扬;把典型问题整理成团队的处理办法。", "Customers praise it unprompted; turns cases into team practice."),
    ],
    "teamwork": [
        ("不分享信息,与同事发生冲突影响工作。", "Keeps information back; conflicts hurt the work."),
        ("被要求时才配合,很少主动帮助同事。", "Helps only when asked."),
        ("按时完成协作任务,乐于回答同事的问题。", "Does their part of shared work on time; answers colleagues' questions."),
        ("主动分享客户线索和经验,帮助新同事。", "Shares leads and experience unasked; helps new colleagues."),
        ("带动团队协作,同事把其视为可以依靠的人。", "Drives the team's cooperation; colleagues rely on them."),
    ],
    "integrity": [
        ("出现虚报拜访或数据造假。", "Reported visits or figures that were not true."),
        ("记录经常不完整或迟交,需要多次提醒。", "Records often incomplete or late."),
        ("遵守考勤与费用制度,记录真实完整。", "Keeps the attendance and expense rules; records are true and complete."),
        ("严守制度并提醒同事,客户信息保密。", "Keeps the rules and reminds others; protects customer data."),
        ("在压力下仍坚持原则,是团队的职业操守榜样。", "Holds to the rules under pressure; a model of integrity."),
    ],
    "learning": [
        ("拒绝学习新产品或新方法。", "Refuses to learn new products or methods."),
        ("参加培训但很少用到工作中。", "Attends training, rarely applies it."),
        ("掌握新产品知识,能在拜访中正确使用。", "Knows the new products and uses them correctly on visits."),
        ("主动学习并提升技能,业绩随之改善。", "Learns on their own initiative; results improve with it."),
        ("能教会别人,有明确的晋升意愿和计划。", "Teaches others; has a clear wish and plan to grow."),
    ],
    "relationship": [
        ("只认识采购,关系随人员变动而中断。", "Knows only the buyer; the account is lost when people change."),
        ("认识几个联系人,但不了解决策链。", "Knows a few contacts, not the decision chain."),
        ("掌握客户的决策链,定期与关键人沟通。", "Knows the decision chain; meets the key people regularly."),
        ("与客户高层建立信任,提前获知需求。", "Trusted by the customer's leaders; hears of needs early."),
        ("成为客户的长期顾问,客户主动扩大合作。", "A long-term adviser; the customer widens the business unasked."),
    ],
    "self": [
        ("本期目标大多没有达成,也没有改进计划。", "Most goals missed, no plan to improve."),
        ("部分目标达成,知道问题但改进有限。", "Some goals met; knows the gaps, little change."),
        ("主要目标达成,能说清做得好与不足之处。", "Main goals met; can say what went well and what not."),
        ("超额完成并总结出可复用的方法。", "Exceeded goals and wrote down what worked."),
        ("全面超额完成,并帮助团队一起达成。", "Exceeded every goal and helped the team reach theirs."),
    ],
}


def _rating(zh: str, en: str, weight: int, source: str, anchors: str) -> dict:
    return {"zh": zh, "en": en, "weight": weight, "source": source,
            "anchors": [{"zh": z, "en": e} for z, e in ANCHORS[anchors]]}


def _kpi(zh: str, en: str, weight: int, code: str, floor: float = 0.5, cap: float = 1.0) -> dict:
    return {"zh": zh, "en": en, "weight": weight, "source": "kpi", "kpi": code, "floor": floor, "cap": cap}


def _process(zh: str, en: str, weight: int, process: str, norm: float) -> dict:
    return {"zh": zh, "en": en, "weight": weight, "source": "process", "process": process, "norm": norm,
            "floor": 0.0, "cap": 1.0}


TEMPLATES = {
    "field": ("一线销售代表考核表", "Field sales rep scorecard", [
        ("销售业绩", "Sales results", 5000, [
            _kpi("销售额达成", "Revenue against target", 5000, "revenue"),
            _kpi("回款达成", "Collections against target", 3000, "collections"),
            _kpi("毛利率", "Gross margin %", 2000, "gross_margin_pct"),
        ]),
        ("客户满意度", "Customer satisfaction", 2000, [
            _kpi("客户满意度评分", "Customer satisfaction rating", 5000, "satisfaction"),
            _rating("售后服务与投诉处理", "After-sales service and complaints", 5000, "manager", "service"),
        ]),
        ("行为规范", "Conduct", 2000, [
            _process("日报按时提交", "Daily reports on time", 2500, "reports_on_time", 0.9),
            _process("拜访定位", "Visits with a location", 1500, "visits_located", 0.95),
            _process("每工作日拜访数", "Visits per working day", 2000, "visits_per_day", 3.0),
            _rating("团队协作(同事互评)", "Teamwork (peers)", 2000, "peer", "teamwork"),
            _rating("职业操守", "Integrity", 2000, "manager", "integrity"),
        ]),
        ("成长潜力", "Growth potential", 1000, [
            _rating("学习能力与技能提升", "Learning and skills", 6000, "manager", "learning"),
            _rating("自我评价", "Self assessment", 4000, "self", "self"),
        ]),
    ]),
    "key_account": ("大客户经理考核表", "Key account rep scorecard", [
        ("销售业绩", "Sales results", 5000, [
            _kpi("销售额达成", "Revenue against target", 4000, "revenue"),
            _kpi("毛利率", "Gross margin %", 3000, "gross_margin_pct"),
            _kpi("回款达成", "Collections against target", 3000, "collections"),
        ]),
        ("客户满意度", "Customer satisfaction", 2500, [
            _kpi("客户满意度评分", "Customer satisfaction rating", 4000, "satisfaction"),
            _rating("客户关系深度", "Depth of the account relationship", 3000, "manager", "relationship"),
            _rating("售后服务与投诉处理", "After-sales service and complaints", 3000, "manager", "service"),
        ]),
        ("行为规范", "Conduct", 1500, [
            _process("日报按时提交", "Daily reports on time", 3000, "reports_on_time", 0.9),
            _process("商机14天内更新", "Opportunities updated in the last 14 days", 4000, "opportunities_fresh", 0.8),
            _rating("团队协作(同事互评)", "Teamwork (peers)", 3000, "peer", "teamwork"),
        ]),
        ("成长潜力", "Growth potential", 1000, [
            _rating("学习能力与技能提升", "Learning and skills", 6000, "manager", "learning"),
            _rating("自我评价", "Self assessment", 4000, "self", "self"),
        ]),
    ]),
}
CREATED = "2026-12-02 00:00:00+00:00"


def _q(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def statements() -> list[str]:
    out = []
    for t, (code, (name_zh, name_en, dimensions)) in enumerate(TEMPLATES.items(), start=1):
        template_id = f"00000000-0000-0000-0008-{t:012d}"
        out.append("INSERT INTO scorecard_template (id, code, version, name_zh, name_en, role, team, current, builtin,"
                   f" created_at) VALUES ({_q(template_id)}, {_q(code)}, 1, {_q(name_zh)}, {_q(name_en)}, 'rep',"
                   f" NULL, TRUE, TRUE, {_q(CREATED)})")
        for d, (dzh, den, dweight, items) in enumerate(dimensions, start=1):
            dimension_id = f"00000000-0000-0000-0008-{t:04d}{d:04d}0000"
            out.append("INSERT INTO scorecard_dimension (id, template, position, name_zh, name_en, weight_bp) VALUES"
                       f" ({_q(dimension_id)}, {_q(template_id)}, {d}, {_q(dzh)}, {_q(den)}, {dweight})")
            for i, item in enumerate(items, start=1):
                item_id = f"00000000-0000-0000-0008-{t:04d}{d:04d}{i:04d}"
                anchors = json.dumps(item.get("anchors", []), ensure_ascii=False)
                out.append(
                    "INSERT INTO scorecard_item (id, dimension, position, name_zh, name_en, weight_bp, source,"
                    " kpi_code, process, floor, cap, band_worst, norm, anchors) VALUES"
                    f" ({_q(item_id)}, {_q(dimension_id)}, {i}, {_q(item['zh'])}, {_q(item['en'])}, {item['weight']},"
                    f" {_q(item['source'])}, {_q(item.get('kpi', ''))}, {_q(item.get('process', ''))},"
                    f" {_q(float(item.get('floor', 0.0)))}, {_q(float(item.get('cap', 1.0)))}, NULL,"
                    f" {_q(item.get('norm'))}, {_q(anchors)})")
    return out


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for sql in (*INDEXES, *statements()):
            await engine.run_ddl(sql)

    manager.add_raw(run)
    return manager
