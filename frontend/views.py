"""Pages. Thin: data comes from ``layers.selectors`` and ``layers.registry``; the web map itself is static
JavaScript (``frontend/static/frontend/map/``) that reads the JSON APIs with the user's session.

Why the page carries a configuration object: the map needs the registry's layers *as this user may see
them* (titles, styles, zooms, attribute labels), the URLs of the services and the user's permissions. One
JSON island rendered by Django keeps these in one place (the registry) instead of a second copy in JS.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.roles import ANALYST, SUPERVISOR, has_role
from checks.models import STATUS_EN, Status
from layers import registry, selectors
from layers.api.views import layer_info

# The layer switcher's groups: business systems first, as supervisors think of them.
GROUPS = (
    ("registration", ("parcels", "buildings")),
    ("planning", ("permits",)),
    ("landsupply", ("landsupply",)),
    ("checks", ("etl_quarantine",)),
    ("reference", ("counties",)),
)
# How each overlay is drawn: raster WMTS where many features meet labels drawn by MapServer (speed), vector
# tiles where outlines are few and should stay crisp and restyleable (interaction).
RENDER = {"parcels": "wmts", "buildings": "wmts", "counties": "wmts"}
# Shown when the page opens (the rest is one click away in the switcher).
DEFAULT_ON = {"parcels", "buildings", "permits", "landsupply"}
# Layers drawn by other means: the findings come per rule from the checks API (always current, filterable).
NOT_IN_SWITCHER = {"findings"}


def _system_titles() -> dict[str, str]:
    return {
        "registration": _("不动产登记"),
        "planning": _("规划许可"),
        "landsupply": _("土地供应"),
        "checks": _("检查结果"),
        "reference": _("参考图层"),
        "etl": _("ETL 隔离"),
        "other": _("其他"),
    }


def _layer_config(request: HttpRequest, layer: registry.Layer, english: bool) -> dict:
    """The API's description of the layer (``/api/layers/<name>/``), with the titles of the page's language
    and how the map draws it."""
    info = layer_info(request, layer)
    title = "title_en" if english else "title_zh"
    return {
        **info,
        "title": info[title],
        "attributes": [{**a, "title": a[title]} for a in info["attributes"]],
        "render": RENDER.get(layer.name, "mvt"),
        "on": layer.name in DEFAULT_ON,
    }


def map_config(request: HttpRequest) -> dict:
    """Everything the web map needs to start, for this user and language."""
    english = (get_language() or "").startswith("en")
    visible = {layer.name: layer for layer in registry.for_user(request.user)}
    overview = selectors.layer_overview()
    counts = {key: o["count"] for key, o in overview.items()}
    titles = _system_titles()
    groups, placed = [], set()
    for key, names in GROUPS:
        members = [n for n in names if n in visible]
        if members:
            groups.append({"key": key, "title": titles[key], "layers": members})
            placed.update(members)
    rest = [n for n in visible if n not in placed and n not in NOT_IN_SWITCHER]
    if rest:
        groups.append({"key": "other", "title": titles["other"], "layers": rest})
    layers = {}
    for name, layer in visible.items():
        layers[name] = _layer_config(request, layer, english)
        layers[name]["count"] = counts.get(name)
        layers[name]["count_estimated"] = overview[name]["estimated"] if name in overview else False
    can_read_findings = has_role(request.user, SUPERVISOR, ANALYST)
    # open where the data is (the demo covers a few districts of a 82,000 km² city)
    extent = next(
        (
            overview[n]["extent"]
            for n in ("parcels", "permits", "landsupply")
            if n in visible and counts.get(n)
        ),
        None,
    )
    return {
        "lang": "en" if english else "zh",
        "layers": layers,
        "groups": groups,
        "systems": titles,
        "empty": not any(counts.values()),
        "extent": extent,
        "can_read_findings": can_read_findings,
        # the finding statuses' titles, for the filter, badges and audit trail (one source: checks.models)
        "statuses": {str(st): {"zh": st.label, "en": STATUS_EN[st]} for st in Status},
        "can_review": has_role(request.user, SUPERVISOR),
        "can_query": has_role(request.user, SUPERVISOR, ANALYST),
        "csrf": get_token(request),
        "tianditu_key": settings.TIANDITU_KEY,
        "urls": {
            "identify": "/api/identify/",
            "search": "/api/search/",
            "features": "/api/layers/{layer}/features/",
            "feature": "/api/layers/{layer}/features/{id}/",
            "loads": "/api/loads/",
            "mvt": "/tiles/{layer}/{z}/{x}/{y}.pbf",
            "wmts": "/mapproxy/wmts/{layer}/webmercator/{z}/{x}/{y}.png",
            "rules": "/api/checks/rules",
            "findings": "/api/checks/findings",
            "finding": "/api/checks/findings/{id}",
            "finding_status": "/api/checks/findings/{id}/status",
            "query_run": "/api/queries/run/",
            "query_export": "/api/queries/export/",
            "queries": "/api/queries/",
            "query": "/api/queries/{id}/",
        },
    }


def home(request: HttpRequest) -> HttpResponse:
    """The web map (一张图): every logged-in role may open it and sees the layers its roles allow;
    anonymous users are sent to the login page by the middleware."""
    return render(
        request,
        "frontend/home.html",
        {
            "config": map_config(request),
            "counties": selectors.counties_geojson(),
            "strings": strings(),
        },
    )


def strings() -> dict[str, str]:
    """The map's interface texts, translated by Django (so the English switch covers the JavaScript)."""
    return {
        "layers": _("图层"),
        "identify": _("查询"),
        "findings": _("检查结果"),
        "tools": _("工具"),
        "base": _("底图"),
        "base_light": _("浅色底图（区县）"),
        "base_none": _("无底图"),
        "base_tdt_vec": _("天地图矢量（在线）"),
        "base_tdt_img": _("天地图影像（在线）"),
        "opacity": _("透明度"),
        "visible_from": _("{z} 级以上可见"),
        "zoom_in_to_see": _("放大到 {z} 级以上显示"),
        "features": _("条"),
        "empty_db": _("尚未加载业务数据。数据管理员加载各系统导出数据后，图层将显示在地图上。"),
        "click_map": _("在地图上点击一处，查看各业务系统在该处的记录。"),
        "nothing_here": _("此处没有任何图层的记录。"),
        "loading": _("加载中…"),
        "service_down": _("服务暂不可用，请稍后重试。"),
        "forbidden": _("没有权限访问此内容。"),
        "records_at": _("该处共 {n} 条记录"),
        "lineage": _("数据来源"),
        "src_file": _("源文件"),
        "src_row": _("行号"),
        "load_run": _("加载批次"),
        "loaded_at": _("加载时间"),
        "version": _("版本"),
        "show_on_map": _("在地图上显示"),
        "zoom_to": _("缩放至"),
        "open_finding": _("查看检查结果"),
        "search_placeholder": _("搜索宗地代码、不动产单元号、许可证号、合同编号或坐落"),
        "search_none": _("没有匹配的记录"),
        "search_short": _("请至少输入 2 个字符"),
        "kind_zddm": _("宗地代码"),
        "kind_bdcdyh": _("不动产单元号"),
        "kind_permit": _("许可证号"),
        "kind_contract": _("合同编号"),
        "kind_address": _("坐落/项目"),
        "rule": _("规则"),
        "county": _("区县"),
        "status": _("状态"),
        "all": _("全部"),
        "open_statuses": _("待处理（待核实、已确认、重新打开）"),
        "filter": _("筛选"),
        "prev": _("上一页"),
        "next": _("下一页"),
        "page_of": _("第 {a}–{b} 条，共 {n} 条"),
        "no_findings": _("没有符合条件的检查结果。"),
        "compared": _("比对的值"),
        "involved": _("涉及的记录"),
        "history": _("处理记录"),
        "reason": _("理由/意见"),
        "expires": _("误报有效期至（可选）"),
        "to_confirmed": _("确认问题"),
        "to_exception": _("标记误报"),
        "to_verified": _("核销（整改属实）"),
        "to_reopened": _("驳回整改（重新打开）"),
        "saved": _("已保存"),
        "close": _("关闭"),
        "back": _("返回列表"),
        "coords": _("坐标"),
        "gk_zone": _("高斯-克吕格 3° 带 {zone}"),
        "locate": _("定位"),
        "locate_hint": _("经度,纬度（CGCS2000）或 X,Y（3° 带，Y 含带号）"),
        "locate_bad": _("无法识别的坐标。示例：106.55,29.56 或 3272000,35456000"),
        "measure_length": _("测距"),
        "measure_area": _("测面"),
        "measure_hint": _("单击添加节点，双击结束；Esc 取消。"),
        "measure_clear": _("清除"),
        "length": _("长度"),
        "area": _("面积"),
        "compare": _("卷帘对比"),
        "compare_left": _("左侧图层"),
        "compare_right": _("右侧图层"),
        "compare_on": _("开始对比"),
        "compare_off": _("结束对比"),
        "compare_same": _("请选择两个不同的图层"),
        "time_filter": _("按加载时间筛选"),
        "time_layer": _("图层"),
        "time_run": _("加载批次"),
        "time_from": _("从"),
        "time_to": _("至"),
        "time_show": _("显示变更"),
        "time_count": _("当前视图内 {n} 条"),
        "time_none": _("当前视图内没有该时段加载的记录"),
        "any_run": _("任意批次"),
        "system": _("业务系统"),
        "analysis": _("分析"),
        "op_eq": _("等于"),
        "op_ne": _("不等于"),
        "op_in": _("属于（逗号分隔）"),
        "op_range": _("介于"),
        "op_contains": _("包含"),
        "op_null": _("为空"),
        "op_notnull": _("不为空"),
        "pred_intersects": _("相交"),
        "pred_within": _("位于其内"),
        "pred_contains": _("包含"),
        "pred_dwithin": _("距离以内（米）"),
        "pred_disjoint": _("不相交（没有）"),
        "target_layer": _("图层"),
        "target_county": _("区县"),
        "target_drawn": _("绘制的范围"),
        "draw_area": _("在地图上绘制"),
        "drawn_ok": _("已绘制 {n} 个节点"),
        "remove": _("删除"),
        "min": _("最小"),
        "max": _("最大"),
        "value": _("值"),
        "area_m2": _("面积（m²，按椭球计算）"),
        "county_of": _("所在区县"),
        "group_class1": _("{field}（一级类）"),
        "group_year": _("{field}（年份）"),
        "agg_count": _("数量"),
        "agg_sum_area": _("面积合计（m²）"),
        "agg_avg_area": _("平均面积（m²）"),
        "running": _("查询中…"),
        "result_features": _("共 {n} 条，显示 {a}–{b}（{ms} ms）"),
        "result_groups": _("共 {n} 组（{ms} ms）"),
        "no_results": _("没有符合条件的记录。"),
        "saved_query": _("查询已保存"),
        "name_required": _("请填写名称"),
        "examples": _("示例"),
        "mine": _("我的与共享的"),
        "export_queued": _("导出任务已排队…"),
        "export_progress": _("导出中 {p}%"),
        "export_done": _("导出完成："),
        "export_failed": _("导出失败"),
        "download": _("下载"),
    }
