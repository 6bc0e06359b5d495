//! Measures what one remote frame costs the viewer to show: composing a
//! 1920x1080 frame into the softbuffer surface and presenting it (MIT-SHM
//! `PutImage` on Xvfb), through the window's own [`ScreenSurface`].

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_viewer::window::surface::{compose, RemoteFrame, ScreenSurface};
use assent_viewer::window::viewport::Viewport;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{StartCause, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::platform::x11::EventLoopBuilderExtX11;
use winit::window::{Window, WindowId};

use crate::xvfb::Xvfb;

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// Presents `frames` full frames (two patterns, alternating, so every
/// present changes every pixel) and prints the cost per frame.
pub fn measure(frames: usize) {
    // `RUST_LOG=softbuffer=debug` shows whether presents fall back from
    // MIT-SHM to plain PutImage.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    // One test per process (see `in_own_process`): no concurrent env reads.
    std::env::set_var("DISPLAY", xvfb.display());
    let event_loop = EventLoop::builder()
        .with_any_thread(true)
        .build()
        .expect("open the X display");
    let frames_to_show = [
        crate::pattern(WIDTH, HEIGHT, 11),
        crate::pattern(WIDTH, HEIGHT, 12),
    ]
    .map(|pixels| RemoteFrame::new(WIDTH, HEIGHT, Arc::new(pixels)).expect("frame"));
    let mut app = Measurement {
        xvfb: &xvfb,
        frames,
        frames_to_show,
        window: None,
        surface: None,
        last_shown: 0,
        measured: false,
        done: false,
    };
    event_loop.run_app(&mut app).expect("run the event loop");
    assert!(app.done, "the window was never exposed");
}

struct Measurement<'a> {
    xvfb: &'a Xvfb,
    frames: usize,
    frames_to_show: [RemoteFrame; 2],
    window: Option<Rc<Window>>,
    surface: Option<ScreenSurface>,
    /// Index into `frames_to_show` of the frame presented last.
    last_shown: usize,
    measured: bool,
    done: bool,
}

impl Measurement<'_> {
    fn run(&mut self) {
        let window = self.window.as_ref().expect("window");
        let size = window.inner_size();
        assert_eq!((size.width, size.height), (WIDTH, HEIGHT), "window size");
        let viewport = Viewport::new((WIDTH, HEIGHT), (WIDTH, HEIGHT));
        let surface = self.surface.as_mut().expect("surface");

        // softbuffer's present queues the SHM PutImage and returns; the next
        // present waits for the server to finish it. So each sample after
        // the first is one compose plus one full server-side put: the
        // steady-state cost per frame. The first sample is dropped.
        let mut present = Vec::with_capacity(self.frames + 1);
        for i in 0..=self.frames {
            let frame = &self.frames_to_show[i % 2];
            let start = Instant::now();
            surface
                .present(&viewport, Some(frame), None)
                .expect("present");
            present.push(start.elapsed());
        }
        present.remove(0);
        self.last_shown = self.frames % 2;

        let mut scratch = vec![0u32; (WIDTH * HEIGHT) as usize];
        let mut copy = Vec::with_capacity(self.frames);
        for i in 0..self.frames {
            let start = Instant::now();
            compose(
                &mut scratch,
                &viewport,
                Some(&self.frames_to_show[i % 2]),
                None,
            );
            copy.push(start.elapsed());
        }

        println!(
            "present {WIDTH}x{HEIGHT} (compose into softbuffer + present), {} frames: {}",
            self.frames,
            summary(&mut present)
        );
        println!(
            "  of which compose (CPU copy) alone: {}",
            summary(&mut copy)
        );
        self.measured = true;
    }

    /// The last frame presented is what the screen shows, exactly. Called
    /// once winit has flushed the connection (the last present is only
    /// queued until then).
    fn verify(&mut self) {
        let last = &self.frames_to_show[self.last_shown];
        let deadline = Instant::now() + crate::WAIT;
        while let Some((x, y, got, want)) =
            crate::first_mismatch(self.xvfb, WIDTH, HEIGHT, last.pixels())
        {
            assert!(
                Instant::now() < deadline,
                "after the measurement, pixel ({x}, {y}) is {got:#08x}, not {want:#08x}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.done = true;
    }
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    let n = samples.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = samples.iter().sum::<Duration>() / n as u32;
    format!(
        "mean {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(mean),
        ms(samples[n / 2]),
        ms(samples[n * 95 / 100]),
        ms(samples[n - 1])
    )
}

impl ApplicationHandler for Measurement<'_> {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let attributes = Window::default_attributes()
            .with_title("Assent — frame cost")
            .with_inner_size(PhysicalSize::new(WIDTH, HEIGHT));
        let window = Rc::new(event_loop.create_window(attributes).expect("window"));
        self.surface = Some(ScreenSurface::new(window.clone()).expect("surface"));
        window.request_redraw();
        self.window = Some(window);
    }

    fn window_event(&mut self, _event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        if matches!(event, WindowEvent::RedrawRequested) && !self.measured {
            self.run();
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if self.measured && !self.done {
            // Come back after winit's next flush of the X connection.
            event_loop.set_control_flow(ControlFlow::WaitUntil(
                Instant::now() + Duration::from_millis(50),
            ));
        }
    }

    fn new_events(&mut self, event_loop: &ActiveEventLoop, cause: StartCause) {
        if self.measured && !self.done && matches!(cause, StartCause::ResumeTimeReached { .. }) {
            self.verify();
            event_loop.exit();
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        self.surface = None;
        self.window = None;
    }
}
