//! The console's message catalog (English and 简体中文) and how a request's language is chosen.
//!
//! Order of precedence: `?lang=en|zh-CN` (which also sets the `lang` cookie), then the `lang`
//! cookie, then the browser's `Accept-Language` (its most preferred language: `zh*` gives
//! zh-CN, anything else English).

pub const COOKIE: &str = "lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag used in `<html lang>`, the cookie and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    /// Accepts the codes of [`Lang::code`], case-insensitively, and a bare `zh`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else if s.eq_ignore_ascii_case("zh-CN") || s.eq_ignore_ascii_case("zh") {
            Some(Self::ZhCn)
        } else {
            None
        }
    }

    /// The most preferred language of an `Accept-Language` header (`q` weights honoured).
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, &str)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            if tag.is_empty() {
                continue;
            }
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, tag));
            }
        }
        match best {
            Some((_, tag)) if tag.len() >= 2 && tag[..2].eq_ignore_ascii_case("zh") => Self::ZhCn,
            _ => Self::En,
        }
    }

    /// The message for `key`; the key itself when it is missing (a test keeps that from
    /// happening).
    pub fn t(self, key: &str) -> &'static str {
        lookup(catalog(self), key).unwrap_or_else(|| {
            tracing::warn!(i18n.key = key, lang = self.code(), "missing message");
            lookup(EN, key).unwrap_or("?")
        })
    }
}

fn lookup(cat: &'static [(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    cat.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub fn catalog(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::En => EN,
        Lang::ZhCn => ZH_CN,
    }
}

/// The language of a request and whether the `lang` cookie must be (re)set.
pub fn negotiate(
    query: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
) -> (Lang, bool) {
    if let Some(l) = query.and_then(Lang::parse) {
        return (l, true);
    }
    if let Some(l) = cookie.and_then(Lang::parse) {
        return (l, false);
    }
    (
        accept_language.map_or(Lang::En, Lang::from_accept_language),
        false,
    )
}

/// What templates call: `{{ t.get("nav.monitors") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn get(&self, key: &str) -> &'static str {
        self.0.t(key)
    }
}

const EN: &[(&str, &str)] = &[
    ("signin.title", "Sign in"),
    ("signin.username", "Username"),
    ("signin.password", "Password"),
    ("signin.submit", "Sign in"),
    ("signin.sso", "Sign in with the identity provider"),
    ("signin.or", "or with a built-in account"),
    ("signin.failed", "Wrong username or password."),
    (
        "signin.limited",
        "Too many attempts. Wait a minute and try again.",
    ),
    (
        "signin.provider_down",
        "The identity provider could not be reached. Ask an operator to degrade IAM, or use a built-in account.",
    ),
    (
        "signin.degraded",
        "IAM is degraded: sign-in through the identity provider is off; break-glass accounts can sign in.",
    ),
    ("signin.out", "Sign out"),
    ("signin.forbidden_title", "Not allowed"),
    (
        "signin.forbidden",
        "Your roles do not include the permission this page needs.",
    ),
    ("app.name", "HAS"),
    ("app.tagline", "High Availability Service"),
    ("nav.dashboard", "Dashboard"),
    ("nav.monitors", "Monitors"),
    ("nav.new", "New monitor"),
    ("nav.language", "Language"),
    ("nav.skip", "Skip to content"),
    ("state.pending", "Pending"),
    ("state.up", "Up"),
    ("state.down", "Down"),
    ("state.paused", "Paused"),
    ("state.degraded", "Degraded"),
    ("state.any", "Any state"),
    ("dash.title", "Dashboard"),
    ("dash.total", "Monitors in total"),
    ("dash.chart", "Monitors by state"),
    ("dash.recent", "Recent state changes"),
    ("dash.no_changes", "No state changes yet."),
    ("dash.no_monitors", "No monitors yet."),
    ("changes.monitor", "Monitor"),
    ("changes.change", "Change"),
    ("changes.at", "When"),
    ("changes.reason", "Reason"),
    ("list.title", "Monitors"),
    ("list.search", "Search name or target"),
    ("list.labels", "Labels (env=prod,team=web)"),
    ("list.filter", "Filter"),
    ("list.clear", "Clear"),
    ("list.empty", "No monitor matches."),
    ("list.showing", "Showing"),
    ("list.of", "of"),
    ("list.prev", "Previous"),
    ("list.next", "Next"),
    ("list.pages", "Pages"),
    (
        "list.bad_label",
        "The label selector must be key=value pairs separated by commas.",
    ),
    ("col.name", "Name"),
    ("col.kind", "Kind"),
    ("col.target", "Target"),
    ("col.state", "State"),
    ("col.last_check", "Last check"),
    ("col.interval", "Interval"),
    ("col.time", "Time"),
    ("col.result", "Result"),
    ("col.latency", "Latency"),
    ("col.status", "Status"),
    ("col.failure", "Failure reason"),
    ("never", "never"),
    ("unit.s", "s"),
    ("unit.ms", "ms"),
    ("unit.min", "min"),
    ("unit.h", "h"),
    ("detail.definition", "Definition"),
    ("detail.labels", "Labels"),
    ("detail.no_labels", "No labels."),
    ("detail.summary", "Availability and latency"),
    ("detail.window", "Window"),
    ("detail.checks", "Checks"),
    ("detail.availability", "Availability"),
    ("detail.p50", "p50"),
    ("detail.p95", "p95"),
    ("detail.p99", "p99"),
    ("detail.latency", "Latency of recent checks"),
    ("detail.latency_fallback", "Latency of recent checks (text)"),
    ("detail.no_results", "No results yet."),
    ("detail.bar24", "Availability per hour, last 24 hours"),
    ("detail.bar7d", "Availability per hour, last 7 days"),
    ("detail.results", "Recent results"),
    ("detail.changes", "Recent state changes"),
    ("detail.next_run", "Next run"),
    ("detail.since", "State since"),
    ("detail.created", "Created"),
    ("detail.thresholds", "Thresholds (failures / successes)"),
    ("detail.conditions", "Conditions"),
    ("detail.no_data", "no data"),
    ("detail.hours_with_data", "Hours with data"),
    ("detail.failures_marked", "Failures are marked in red."),
    ("result.ok", "OK"),
    ("result.fail", "Failed"),
    ("action.pause", "Pause"),
    ("action.resume", "Resume"),
    ("action.run", "Run now"),
    ("action.edit", "Edit"),
    ("action.delete", "Delete"),
    ("action.cancel", "Cancel"),
    ("action.save", "Save"),
    ("action.create", "Create monitor"),
    (
        "notice.run_queued",
        "A check was queued; its result appears shortly.",
    ),
    (
        "notice.paused_no_run",
        "The monitor is paused; resume it first.",
    ),
    ("notice.saved", "Saved."),
    ("notice.created", "Monitor created."),
    ("notice.deleted", "Monitor deleted."),
    ("notice.paused", "Monitor paused."),
    ("notice.resumed", "Monitor resumed."),
    ("delete.title", "Delete monitor"),
    (
        "delete.question",
        "Delete this monitor and all of its results? This cannot be undone.",
    ),
    ("form.new_title", "New monitor"),
    ("form.edit_title", "Edit monitor"),
    ("form.errors", "Please correct the fields marked below."),
    ("form.general", "Basics"),
    ("form.probe", "Probe"),
    ("form.http", "HTTP options"),
    ("form.tcp", "TCP options"),
    ("form.dns", "DNS options"),
    ("form.name", "Name"),
    ("form.description", "Description"),
    ("form.kind", "Probe kind"),
    ("form.target", "Target"),
    (
        "form.target_help",
        "http and browser: a URL; tcp and tls: host:port; dns: a domain name.",
    ),
    ("form.timeout_ms", "Timeout (ms)"),
    ("form.interval_seconds", "Interval (seconds)"),
    ("form.failure_threshold", "Failures before down"),
    ("form.success_threshold", "Successes before up"),
    ("form.conditions", "Conditions"),
    ("form.conditions_help", "One per line, e.g. [STATUS] == 200"),
    ("form.labels", "Labels"),
    ("form.labels_help", "One key=value per line"),
    ("form.method", "Method"),
    ("form.headers", "Headers"),
    ("form.headers_help", "One Name: value per line"),
    ("form.body", "Body"),
    ("form.max_redirects", "Max redirects"),
    ("form.insecure_skip_verify", "Skip certificate verification"),
    ("form.expect", "Expect (tcp)"),
    ("form.record_type", "Record type (dns)"),
    ("form.dns_server", "DNS server (ip:port)"),
    (
        "form.expected_answers",
        "Expected answers (dns, one per line)",
    ),
    ("form.ip_preference", "IP preference"),
    ("form.default", "default"),
    ("err.number", "must be a whole number"),
    ("err.kind", "choose http, tcp, dns, tls or browser"),
    ("err.label_line", "each line must be key=value"),
    ("err.label_dup", "duplicate key"),
    ("err.header_line", "each line must be Name: value"),
    ("err.ip_preference", "choose any, ipv4 or ipv6"),
    ("err.line", "line"),
    (
        "err.duplicate_name",
        "a monitor with this name already exists",
    ),
    ("err.not_found_title", "Not found"),
    (
        "err.not_found",
        "There is no such monitor or page. It may have been deleted.",
    ),
    ("err.back", "Back to the monitors"),
    ("err.title", "Something went wrong"),
    (
        "err.internal",
        "The request could not be completed. Please try again; details are in the server log.",
    ),
    (
        "err.forbidden",
        "Cross-site form submissions are not accepted.",
    ),
    ("form.where", "Locations and retries"),
    ("form.locations", "Locations"),
    (
        "form.locations_help",
        "pageinspect locations to probe from; none ticked: the default location only.",
    ),
    ("form.not_configured", "not configured"),
    (
        "form.location_failure_threshold",
        "Failing locations before a check fails",
    ),
    (
        "form.degraded_threshold_ms",
        "Degraded above (ms, optional)",
    ),
    ("form.retries", "Retries after a failed attempt"),
    ("form.retry_delay_ms", "Delay between attempts (ms)"),
    ("form.browser", "Browser options"),
    ("form.steps", "Steps"),
    (
        "form.steps_help",
        "One step per line: goto /login · fill #user = alice · fill #password secret:login-password · click button[type=submit] · wait_for #welcome · wait_for_navigation",
    ),
    ("form.console_error_allow", "Allowed console errors"),
    (
        "form.console_error_allow_help",
        "One glob per line, e.g. *favicon.ico*",
    ),
    (
        "form.screenshot_on_failure",
        "Keep a screenshot when the check fails",
    ),
    (
        "err.step_action",
        "unknown step; use goto, fill, click, wait_for or wait_for_navigation",
    ),
    ("err.step_arg", "this step needs a URL or selector"),
    (
        "err.step_no_arg",
        "wait_for_navigation takes nothing after it",
    ),
    (
        "err.step_fill",
        "fill needs `SELECTOR = value` or `SELECTOR secret:NAME`",
    ),
    ("col.location", "Location"),
    ("col.attempt", "Attempt"),
    ("detail.by_location", "By location"),
    (
        "detail.by_location_note",
        "Newest result per location; availability is over the checks among the last results loaded:",
    ),
    ("detail.checks_lower", "checks"),
    ("detail.page_title", "Page title"),
    ("detail.load_time", "Load time"),
    ("detail.network_idle", "Network idle"),
    ("detail.js_errors", "JS errors"),
    ("detail.console_errors", "Console errors"),
    ("detail.failed_requests", "Failed requests"),
    ("detail.screenshot", "screenshot"),
    (
        "detail.screenshot_alt",
        "Screenshot of the page when the check failed at",
    ),
    ("detail.screenshot_caption", "Newest failure screenshot"),
    ("detail.locations", "Locations"),
    ("detail.k_of_n", "a check fails when {k} of {n} fail"),
    ("detail.degraded", "Degraded when slower than"),
    ("detail.off", "off"),
    ("detail.no_retries", "none"),
    ("detail.retry_delay", "every"),
];

const ZH_CN: &[(&str, &str)] = &[
    ("signin.title", "登录"),
    ("signin.username", "用户名"),
    ("signin.password", "密码"),
    ("signin.submit", "登录"),
    ("signin.sso", "通过身份提供方登录"),
    ("signin.or", "或使用内置账号"),
    ("signin.failed", "用户名或密码错误。"),
    ("signin.limited", "尝试次数过多，请稍等一分钟再试。"),
    (
        "signin.provider_down",
        "无法连接身份提供方。请联系运维人员降级 IAM，或使用内置账号。",
    ),
    (
        "signin.degraded",
        "IAM 已降级：身份提供方登录已关闭，应急账号可以登录。",
    ),
    ("signin.out", "退出登录"),
    ("signin.forbidden_title", "无权访问"),
    ("signin.forbidden", "您的角色不包含此页面所需的权限。"),
    ("app.name", "HAS"),
    ("app.tagline", "高可用服务"),
    ("nav.dashboard", "仪表盘"),
    ("nav.monitors", "监控"),
    ("nav.new", "新建监控"),
    ("nav.language", "语言"),
    ("nav.skip", "跳到正文"),
    ("state.pending", "待定"),
    ("state.up", "正常"),
    ("state.down", "故障"),
    ("state.paused", "已暂停"),
    ("state.degraded", "性能下降"),
    ("state.any", "全部状态"),
    ("dash.title", "仪表盘"),
    ("dash.total", "监控总数"),
    ("dash.chart", "各状态的监控数"),
    ("dash.recent", "最近的状态变化"),
    ("dash.no_changes", "暂无状态变化。"),
    ("dash.no_monitors", "还没有监控。"),
    ("changes.monitor", "监控"),
    ("changes.change", "变化"),
    ("changes.at", "时间"),
    ("changes.reason", "原因"),
    ("list.title", "监控"),
    ("list.search", "搜索名称或目标"),
    ("list.labels", "标签（env=prod,team=web）"),
    ("list.filter", "筛选"),
    ("list.clear", "清除"),
    ("list.empty", "没有匹配的监控。"),
    ("list.showing", "显示"),
    ("list.of", "共"),
    ("list.prev", "上一页"),
    ("list.next", "下一页"),
    ("list.pages", "分页"),
    ("list.bad_label", "标签选择器必须是以逗号分隔的 key=value。"),
    ("col.name", "名称"),
    ("col.kind", "类型"),
    ("col.target", "目标"),
    ("col.state", "状态"),
    ("col.last_check", "最近检查"),
    ("col.interval", "间隔"),
    ("col.time", "时间"),
    ("col.result", "结果"),
    ("col.latency", "延迟"),
    ("col.status", "状态码"),
    ("col.failure", "失败原因"),
    ("never", "从未"),
    ("unit.s", "秒"),
    ("unit.ms", "毫秒"),
    ("unit.min", "分钟"),
    ("unit.h", "小时"),
    ("detail.definition", "定义"),
    ("detail.labels", "标签"),
    ("detail.no_labels", "无标签。"),
    ("detail.summary", "可用率与延迟"),
    ("detail.window", "时间窗"),
    ("detail.checks", "检查次数"),
    ("detail.availability", "可用率"),
    ("detail.p50", "p50"),
    ("detail.p95", "p95"),
    ("detail.p99", "p99"),
    ("detail.latency", "最近检查的延迟"),
    ("detail.latency_fallback", "最近检查的延迟（文本）"),
    ("detail.no_results", "暂无结果。"),
    ("detail.bar24", "每小时可用率，最近 24 小时"),
    ("detail.bar7d", "每小时可用率，最近 7 天"),
    ("detail.results", "最近结果"),
    ("detail.changes", "最近的状态变化"),
    ("detail.next_run", "下次运行"),
    ("detail.since", "状态开始于"),
    ("detail.created", "创建于"),
    ("detail.thresholds", "阈值（失败 / 成功）"),
    ("detail.conditions", "条件"),
    ("detail.no_data", "无数据"),
    ("detail.hours_with_data", "有数据的小时"),
    ("detail.failures_marked", "失败以红色标出。"),
    ("result.ok", "成功"),
    ("result.fail", "失败"),
    ("action.pause", "暂停"),
    ("action.resume", "恢复"),
    ("action.run", "立即运行"),
    ("action.edit", "编辑"),
    ("action.delete", "删除"),
    ("action.cancel", "取消"),
    ("action.save", "保存"),
    ("action.create", "创建监控"),
    ("notice.run_queued", "已排队一次检查，结果稍后出现。"),
    ("notice.paused_no_run", "该监控已暂停，请先恢复。"),
    ("notice.saved", "已保存。"),
    ("notice.created", "监控已创建。"),
    ("notice.deleted", "监控已删除。"),
    ("notice.paused", "监控已暂停。"),
    ("notice.resumed", "监控已恢复。"),
    ("delete.title", "删除监控"),
    (
        "delete.question",
        "删除该监控及其全部结果？此操作无法撤销。",
    ),
    ("form.new_title", "新建监控"),
    ("form.edit_title", "编辑监控"),
    ("form.errors", "请修正下面标出的字段。"),
    ("form.general", "基本信息"),
    ("form.probe", "探测"),
    ("form.http", "HTTP 选项"),
    ("form.tcp", "TCP 选项"),
    ("form.dns", "DNS 选项"),
    ("form.name", "名称"),
    ("form.description", "描述"),
    ("form.kind", "探测类型"),
    ("form.target", "目标"),
    (
        "form.target_help",
        "http 和 browser：URL；tcp 和 tls：host:port；dns：域名。",
    ),
    ("form.timeout_ms", "超时（毫秒）"),
    ("form.interval_seconds", "间隔（秒）"),
    ("form.failure_threshold", "判定故障的连续失败次数"),
    ("form.success_threshold", "判定正常的连续成功次数"),
    ("form.conditions", "条件"),
    ("form.conditions_help", "每行一个，例如 [STATUS] == 200"),
    ("form.labels", "标签"),
    ("form.labels_help", "每行一个 key=value"),
    ("form.method", "方法"),
    ("form.headers", "请求头"),
    ("form.headers_help", "每行一个 Name: value"),
    ("form.body", "请求体"),
    ("form.max_redirects", "最多重定向次数"),
    ("form.insecure_skip_verify", "跳过证书校验"),
    ("form.expect", "期望内容（tcp）"),
    ("form.record_type", "记录类型（dns）"),
    ("form.dns_server", "DNS 服务器（ip:port）"),
    ("form.expected_answers", "期望的应答（dns，每行一个）"),
    ("form.ip_preference", "IP 偏好"),
    ("form.default", "默认"),
    ("err.number", "必须是整数"),
    ("err.kind", "请选择 http、tcp、dns、tls 或 browser"),
    ("err.label_line", "每行必须是 key=value"),
    ("err.label_dup", "键重复"),
    ("err.header_line", "每行必须是 Name: value"),
    ("err.ip_preference", "请选择 any、ipv4 或 ipv6"),
    ("err.line", "行"),
    ("err.duplicate_name", "已存在同名的监控"),
    ("err.not_found_title", "未找到"),
    ("err.not_found", "没有这个监控或页面，它可能已被删除。"),
    ("err.back", "返回监控列表"),
    ("err.title", "出错了"),
    ("err.internal", "请求未能完成，请重试；详情见服务器日志。"),
    ("err.forbidden", "不接受跨站提交的表单。"),
    ("form.where", "位置与重试"),
    ("form.locations", "探测位置"),
    (
        "form.locations_help",
        "从哪些 pageinspect 位置探测；都不勾选时只用默认位置。",
    ),
    ("form.not_configured", "未配置"),
    (
        "form.location_failure_threshold",
        "判定检查失败所需的失败位置数",
    ),
    ("form.degraded_threshold_ms", "性能下降阈值（毫秒，可选）"),
    ("form.retries", "失败后的重试次数"),
    ("form.retry_delay_ms", "两次尝试之间的间隔（毫秒）"),
    ("form.browser", "浏览器选项"),
    ("form.steps", "步骤"),
    (
        "form.steps_help",
        "每行一个步骤：goto /login · fill #user = alice · fill #password secret:login-password · click button[type=submit] · wait_for #welcome · wait_for_navigation",
    ),
    ("form.console_error_allow", "允许的控制台错误"),
    (
        "form.console_error_allow_help",
        "每行一个通配模式，例如 *favicon.ico*",
    ),
    ("form.screenshot_on_failure", "检查失败时保留截图"),
    (
        "err.step_action",
        "未知步骤；可用 goto、fill、click、wait_for 或 wait_for_navigation",
    ),
    ("err.step_arg", "该步骤需要 URL 或选择器"),
    ("err.step_no_arg", "wait_for_navigation 后面不能有内容"),
    (
        "err.step_fill",
        "fill 需要写成 `选择器 = 值` 或 `选择器 secret:名称`",
    ),
    ("col.location", "位置"),
    ("col.attempt", "尝试"),
    ("detail.by_location", "按位置"),
    (
        "detail.by_location_note",
        "每个位置的最新结果；可用率按最近加载的结果中的检查计算：",
    ),
    ("detail.checks_lower", "次检查"),
    ("detail.page_title", "页面标题"),
    ("detail.load_time", "加载时间"),
    ("detail.network_idle", "网络空闲"),
    ("detail.js_errors", "JS 错误"),
    ("detail.console_errors", "控制台错误"),
    ("detail.failed_requests", "失败的请求"),
    ("detail.screenshot", "截图"),
    ("detail.screenshot_alt", "检查失败时的页面截图，时间"),
    ("detail.screenshot_caption", "最近一次失败的截图"),
    ("detail.locations", "探测位置"),
    ("detail.k_of_n", "{n} 个位置中 {k} 个失败即判定检查失败"),
    ("detail.degraded", "慢于此值即为性能下降"),
    ("detail.off", "关闭"),
    ("detail.no_retries", "无"),
    ("detail.retry_delay", "间隔"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(lang: Lang) -> BTreeSet<&'static str> {
        catalog(lang).iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn both_catalogs_have_the_same_keys_and_no_duplicates() {
        for lang in Lang::ALL {
            assert_eq!(
                keys(lang).len(),
                catalog(lang).len(),
                "duplicate key in {}",
                lang.code()
            );
        }
        let (en, zh) = (keys(Lang::En), keys(Lang::ZhCn));
        assert_eq!(
            en.difference(&zh).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "missing in zh-CN"
        );
        assert_eq!(
            zh.difference(&en).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "missing in en"
        );
    }

    #[test]
    fn no_message_is_empty() {
        for lang in Lang::ALL {
            for (k, v) in catalog(lang) {
                assert!(!v.trim().is_empty(), "{k} is empty in {}", lang.code());
            }
        }
    }

    #[test]
    fn every_key_used_by_the_templates_and_code_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for dir in ["templates", "src/ui"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("readable dir") {
                let path = entry.expect("entry").path();
                sources.push(std::fs::read_to_string(&path).expect("readable file"));
            }
        }
        let en = keys(Lang::En);
        let mut used = 0;
        for src in &sources {
            for chunk in src.split("t.get(\"").skip(1) {
                let key = chunk.split('"').next().unwrap_or("");
                used += 1;
                assert!(en.contains(key), "unknown message key `{key}`");
            }
        }
        assert!(used > 20, "the scan found the keys ({used})");
    }

    #[test]
    fn accept_language_prefers_the_highest_weight() {
        let cases = [
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::ZhCn),
            ("zh", Lang::ZhCn),
            ("zh-TW", Lang::ZhCn),
            ("en-US,en;q=0.9", Lang::En),
            ("en;q=0.5, zh-CN;q=0.8", Lang::ZhCn),
            ("fr-FR", Lang::En),
            ("zh;q=0", Lang::En),
            ("", Lang::En),
            (";;,,", Lang::En),
        ];
        for (header, want) in cases {
            assert_eq!(Lang::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn the_query_beats_the_cookie_beats_the_header() {
        assert_eq!(
            negotiate(Some("en"), Some("zh-CN"), Some("zh")),
            (Lang::En, true)
        );
        assert_eq!(
            negotiate(Some("xx"), Some("zh-CN"), None),
            (Lang::ZhCn, false)
        );
        assert_eq!(negotiate(None, None, Some("zh-CN")), (Lang::ZhCn, false));
        assert_eq!(negotiate(None, Some("bogus"), None), (Lang::En, false));
    }
}
