//! The session shown in the viewer window ([`crate::window`]): frames,
//! cursor, grants, status lines, file transfers and the host's notification
//! count go to the window; what
//! the engineer does there comes back as [`UserAction`]s through the
//! session's action channel.

use std::ops::ControlFlow;
use std::sync::Arc;

use anyhow::Result;
use assent_proto::screen_codec::Framebuffer;

use crate::notifications::ActiveNotifications;
use crate::session::{Frontend, SessionEnd, SessionEvent};
use crate::stats::ScreenStats;
use crate::window::{UserAction, WindowCommand, WindowRemote};
use assent_proto::consent::CapabilitySet;

/// Forwards the session to the window thread.
pub struct WindowFrontend {
    remote: WindowRemote,
}

impl WindowFrontend {
    pub fn new(remote: WindowRemote) -> Self {
        Self { remote }
    }

    /// Sends a command; a window that is gone ends the session.
    fn show(&self, command: WindowCommand) -> ControlFlow<SessionEnd> {
        if self.remote.send(command) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(SessionEnd::Ended("the viewer window was closed".into()))
        }
    }
}

impl Frontend for WindowFrontend {
    fn on_event(
        &mut self,
        event: SessionEvent<'_>,
        granted: CapabilitySet,
        _actions: &mut Vec<UserAction>,
    ) -> ControlFlow<SessionEnd> {
        match event {
            SessionEvent::Decision(capability, outcome) => {
                self.show(WindowCommand::Capabilities(granted))?;
                self.show(WindowCommand::Status(format!(
                    "{}: {outcome:?}",
                    capability.label()
                )))
            }
            SessionEvent::Revoked(capability) => {
                self.show(WindowCommand::Capabilities(granted))?;
                self.show(WindowCommand::Status(format!(
                    "{} revoked",
                    capability.label()
                )))
            }
            SessionEvent::Frame { framebuffer, .. } => self.show(WindowCommand::Frame {
                width: framebuffer.width(),
                height: framebuffer.height(),
                pixels: Arc::new(framebuffer.to_0rgb_u32()),
            }),
            SessionEvent::Cursor { x, y, visible } => {
                self.show(WindowCommand::Cursor { x, y, visible })
            }
            SessionEvent::Status(line) | SessionEvent::RequestFailed(_, line) => {
                self.show(WindowCommand::Status(line.to_owned()))
            }
            SessionEvent::File(report) => self.show(WindowCommand::Status(report.line())),
            SessionEvent::Notifications(summary) => {
                self.show(WindowCommand::Notifications(summary))
            }
            SessionEvent::ScreenSize { .. } => ControlFlow::Continue(()),
        }
    }

    fn finish(
        &mut self,
        end: &SessionEnd,
        _framebuffer: Option<&Framebuffer>,
        _stats: &ScreenStats,
        _notifications: &ActiveNotifications,
    ) -> Result<()> {
        println!("session ended: {}", end.reason());
        self.remote
            .send(WindowCommand::Close(end.reason().to_owned()));
        match end {
            SessionEnd::Failed(reason) => anyhow::bail!("{reason}"),
            _ => Ok(()),
        }
    }
}
