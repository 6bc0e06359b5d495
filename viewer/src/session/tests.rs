use super::*;

#[test]
fn capability_requests_go_one_at_a_time_in_order() {
    let mut requests = Requests::default();
    requests.push(Capability::ScreenView);
    requests.push(Capability::RemoteControl);
    assert_eq!(requests.next(), Some(Capability::ScreenView));
    assert_eq!(requests.next(), None, "one prompt in flight at a time");
    requests.answered(Capability::ScreenView);
    assert_eq!(requests.next(), Some(Capability::RemoteControl));
    requests.answered(Capability::RemoteControl);
    assert_eq!(requests.next(), None);
}

#[test]
fn a_capability_is_not_requested_twice_while_queued_or_in_flight() {
    let mut requests = Requests::default();
    requests.push(Capability::ScreenView);
    assert_eq!(requests.next(), Some(Capability::ScreenView));
    requests.push(Capability::ScreenView);
    requests.push(Capability::RemoteControl);
    requests.push(Capability::RemoteControl);
    requests.answered(Capability::ScreenView);
    assert_eq!(requests.next(), Some(Capability::RemoteControl));
    assert_eq!(requests.fail_awaiting(), Some(Capability::RemoteControl));
    assert_eq!(requests.fail_awaiting(), None);
    assert_eq!(requests.next(), None);
}

#[test]
fn a_phi_hosts_file_transfer_refusal_fails_only_a_file_transfer_request() {
    let mut requests = Requests::default();
    requests.push(Capability::FileTransfer);
    requests.push(Capability::RemoteControl);
    assert_eq!(requests.next(), Some(Capability::FileTransfer));
    // The request and the files channel are each refused: two errors.
    assert_eq!(
        requests.fail_on_error(FILE_TRANSFER_UNAVAILABLE),
        Some(Capability::FileTransfer)
    );
    assert_eq!(requests.next(), Some(Capability::RemoteControl));
    assert_eq!(requests.fail_on_error(FILE_TRANSFER_UNAVAILABLE), None);
    assert_eq!(
        requests.fail_on_error("a request is already pending"),
        Some(Capability::RemoteControl),
        "any other refusal answers the request in flight"
    );
}

/// Records what the session shows.
#[derive(Default)]
struct Recorded(Vec<String>);

impl Frontend for Recorded {
    fn on_event(
        &mut self,
        event: SessionEvent<'_>,
        _granted: CapabilitySet,
        _actions: &mut Vec<UserAction>,
    ) -> ControlFlow<SessionEnd> {
        self.0.push(format!("{event:?}"));
        ControlFlow::Continue(())
    }

    fn finish(
        &mut self,
        _end: &SessionEnd,
        _framebuffer: Option<&Framebuffer>,
        _stats: &ScreenStats,
        _notifications: &ActiveNotifications,
    ) -> Result<()> {
        Ok(())
    }
}

#[test]
fn the_notifications_channel_ending_or_failing_never_ends_the_session() {
    let mut state = SessionState {
        requests: Requests::default(),
        granted: CapabilitySet::EMPTY,
        framebuffer: None,
        stats: ScreenStats::default(),
        dropped_input: 0,
        files: FileTransfers::new(FilesPlan::default()),
        notifications: ActiveNotifications::default(),
    };
    let mut frontend = Recorded::default();
    let mut actions = Vec::new();
    for event in [
        FeedEvent::Failed("the notifications channel failed: garbage".into()),
        FeedEvent::Ended,
    ] {
        let flow = on_notifications(event, &state, &mut frontend, &mut actions);
        assert_eq!(flow, ControlFlow::Continue(()));
    }
    assert!(frontend.0.is_empty(), "nothing changed: {:?}", frontend.0);
    let change = state.notifications.clear("gone");
    let flow = on_notifications(
        FeedEvent::Changed(change),
        &state,
        &mut frontend,
        &mut actions,
    );
    assert_eq!(flow, ControlFlow::Continue(()));
    assert_eq!(
        frontend.0,
        [format!(
            "{:?}",
            SessionEvent::Notifications(state.notifications.summary())
        )],
        "the frontend hears of every change"
    );
}

#[test]
fn a_decision_for_another_capability_does_not_release_the_one_in_flight() {
    let mut requests = Requests::default();
    requests.push(Capability::RemoteControl);
    requests.push(Capability::ScreenView);
    assert_eq!(requests.next(), Some(Capability::RemoteControl));
    requests.answered(Capability::ScreenView);
    assert_eq!(requests.next(), None);
}
