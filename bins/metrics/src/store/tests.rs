use super::*;
use crate::mapping::{Mapper, DEFAULT_BUCKETS};

fn update<'a>(
    name: &'a str,
    labels: &[(&str, &str)],
    op: Op<'a>,
    observer: &'a Observer,
) -> Update<'a> {
    Update {
        name: std::borrow::Cow::Borrowed(name),
        help: None,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        op,
        ttl: None,
        observer,
    }
}

/// The text format of the whole table, as a scrape shows it.
fn text(state: &mut State, now: Instant) -> String {
    let mut out = Vec::new();
    render::render(state, now, &mut out);
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn one_name_with_different_label_names_is_shown_under_their_union() {
    let observer = Mapper::empty().default_observer;
    let store = Store::new(None);
    let mut state = store.lock();
    let now = Instant::now();
    state
        .apply(&update("hits", &[("a", "1")], Op::Add(1.0), &observer), now)
        .unwrap();
    state
        .apply(&update("hits", &[("b", "2")], Op::Add(2.0), &observer), now)
        .unwrap();
    state
        .apply(&update("hits", &[], Op::Add(3.0), &observer), now)
        .unwrap();
    let shown = text(&mut state, now);
    assert!(shown.contains("# TYPE hits counter\n"), "{shown}");
    for line in [
        "hits{a=\"1\",b=\"\"} 1\n",
        "hits{a=\"\",b=\"2\"} 2\n",
        "hits{a=\"\",b=\"\"} 3\n",
    ] {
        assert!(shown.contains(line), "{line} in:\n{shown}");
    }
}

#[test]
fn a_name_keeps_its_first_type_and_other_types_are_refused() {
    let observer = Mapper::empty().default_observer;
    let store = Store::new(None);
    let mut state = store.lock();
    let now = Instant::now();
    state
        .apply(&update("x", &[], Op::Add(1.0), &observer), now)
        .unwrap();
    let refused = state.apply(&update("x", &[], Op::Set(5.0), &observer), now);
    assert_eq!(refused, Err(Refusal::TypeConflict));
    let summary = state.apply(&update("x", &[], Op::Observe(1.0, 1), &observer), now);
    assert_eq!(summary, Err(Refusal::TypeConflict));
    assert!(text(&mut state, now).contains("\nx 1\n"));
}

#[test]
fn past_max_series_new_series_are_refused_and_old_ones_keep_working() {
    let observer = Mapper::empty().default_observer;
    let store = Store::new(Some(2));
    let mut state = store.lock();
    let now = Instant::now();
    state
        .apply(&update("a", &[], Op::Set(1.0), &observer), now)
        .unwrap();
    state
        .apply(&update("b", &[("k", "1")], Op::Set(1.0), &observer), now)
        .unwrap();
    assert_eq!(
        state.apply(&update("b", &[("k", "2")], Op::Set(1.0), &observer), now),
        Err(Refusal::MaxSeries)
    );
    assert_eq!(
        state.apply(&update("c", &[], Op::Set(1.0), &observer), now),
        Err(Refusal::MaxSeries)
    );
    state
        .apply(&update("a", &[], Op::Move(2.0), &observer), now)
        .unwrap();
    assert_eq!(state.series(), 2);
    let shown = text(&mut state, now);
    assert!(shown.contains("\na 3\n"), "{shown}");
    assert!(
        !shown.contains("# TYPE c "),
        "no empty family left behind: {shown}"
    );
}

#[test]
fn idle_series_expire_after_their_ttl_and_busy_ones_stay() {
    let observer = Observer::Histogram {
        buckets: DEFAULT_BUCKETS.to_vec(),
    };
    let store = Store::new(None);
    let mut state = store.lock();
    let start = Instant::now();
    let ttl = Some(Duration::from_secs(10));
    let mut idle = update("idle", &[], Op::Observe(0.2, 1), &observer);
    idle.ttl = ttl;
    let mut busy = update("busy", &[], Op::Add(1.0), &observer);
    busy.ttl = ttl;
    let forever = update("forever", &[], Op::Set(1.0), &observer);
    state.apply(&idle, start).unwrap();
    state.apply(&busy, start).unwrap();
    state.apply(&forever, start).unwrap();
    state.apply(&busy, start + Duration::from_secs(8)).unwrap();
    assert_eq!(state.expire(start + Duration::from_secs(11)), 1);
    let shown = text(&mut state, start + Duration::from_secs(11));
    assert!(!shown.contains("idle"), "{shown}");
    assert!(
        shown.contains("\nbusy 2\n") && shown.contains("\nforever 1\n"),
        "{shown}"
    );
    assert_eq!(state.series(), 2);
}

#[test]
fn sets_count_distinct_members_and_histograms_render_cumulative_buckets() {
    let histogram = Observer::Histogram {
        buckets: vec![0.1, 1.0],
    };
    let store = Store::new(None);
    let mut state = store.lock();
    let now = Instant::now();
    for member in ["alice", "bob", "alice"] {
        state
            .apply(&update("users", &[], Op::Member(member), &histogram), now)
            .unwrap();
    }
    state
        .apply(&update("t", &[], Op::Observe(0.05, 1), &histogram), now)
        .unwrap();
    state
        .apply(&update("t", &[], Op::Observe(0.5, 3), &histogram), now)
        .unwrap();
    let shown = text(&mut state, now);
    assert!(shown.contains("\nusers 2\n"), "{shown}");
    for line in [
        "t_bucket{le=\"0.1\"} 1\n",
        "t_bucket{le=\"1\"} 4\n",
        "t_bucket{le=\"+Inf\"} 4\n",
        "t_count 4\n",
    ] {
        assert!(shown.contains(line), "{line} in:\n{shown}");
    }
}

#[test]
fn a_familys_label_names_are_shared_and_let_go_with_the_last_series_using_them() {
    let observer = Observer::Histogram {
        buckets: DEFAULT_BUCKETS.to_vec(),
    };
    let store = Store::new(None);
    let mut state = store.lock();
    let start = Instant::now();
    let mut short = update("hits", &[("request_id", "r1")], Op::Add(1.0), &observer);
    short.ttl = Some(Duration::from_secs(1));
    state.apply(&short, start).unwrap();
    for code in ["200", "500"] {
        let kept = update("hits", &[("code", code)], Op::Add(1.0), &observer);
        state.apply(&kept, start).unwrap();
    }
    let names = |state: &State| -> Vec<String> {
        let mut names: Vec<String> = state.families["hits"]
            .names
            .iter()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&state), ["code", "request_id"], "one copy per name");

    assert_eq!(state.expire(start + Duration::from_secs(2)), 1);
    assert_eq!(names(&state), ["code"]);
    let shown = text(&mut state, start + Duration::from_secs(2));
    assert!(shown.contains("\nhits{code=\"500\"} 1\n"), "{shown}");
    assert!(!shown.contains("request_id"), "{shown}");
    let again = update("hits", &[("request_id", "r2")], Op::Add(1.0), &observer);
    state.apply(&again, start + Duration::from_secs(2)).unwrap();
    let shown = text(&mut state, start + Duration::from_secs(2));
    assert!(
        shown.contains("\nhits{code=\"\",request_id=\"r2\"} 1\n"),
        "{shown}"
    );
}
