//! Screen tile codec benchmarks (issue 5, R17). Figures go to BENCHMARKS.md.
//!
//! Content is a synthetic instrument status screen at 1920×1080, not noise
//! (noise is not a screen): flat panels, anti-aliased text-like glyphs,
//! readouts whose values change several times per second, a scrolling
//! trace over a grid, a histogram, a clock and blinking status lights.
//!
//! Criterion measures, on one thread:
//! - `tiles/full_change_1080p`: encode a frame in which every tile changed
//!   (the other screen theme) and apply all its updates to a `Framebuffer`;
//! - `tiles/damage_2pct_1080p`: the same for a frame where a few readout
//!   values changed (about 2 % of the tiles);
//! - `tiles/still_1080p`: encoding an unchanged frame (damage detection only).
//!
//! Under `cargo bench` a summary follows: a zstd level sweep on the full
//! change, then 60 s of simulated streaming of the changing screen through
//! `TileEncoder` + `FramePacer` at the default 6 Mbit/s budget (simulated
//! clock; each frame also costs the measured encode time, as in the host
//! loop), and 60 s of a still screen. Bytes counted are what the host's
//! channel writes: each update's frame, sealed (`RECORD_OVERHEAD`) and
//! framed again as a `SealedRecord` (`HEADER_LEN`); QUIC/UDP/IP not included.
//!
//! Run: `cargo bench --bench tiles`.

use assent_host::consent_dialog::font::glyph;
use std::time::{Duration, Instant};

use assent_proto::messages::screen::FrameUpdate;
use assent_proto::pacing::{FramePacer, PacingSettings};
use assent_proto::screen_codec::{
    CapturedFrame, EncoderSettings, Framebuffer, TileEncoder, DEFAULT_ZSTD_LEVEL,
};
use assent_proto::wire::{Message, HEADER_LEN, RECORD_OVERHEAD};
use criterion::Criterion;

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;
const TILES_1080P: usize = 30 * 17;

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    codec(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once without `--bench`;
    // the summary is a measurement, so only `cargo bench` prints it.
    if std::env::args().any(|arg| arg == "--bench") {
        level_sweep();
        streaming_minute();
        still_minute();
    }
}

/// Encoder and viewer side by side, as one benchmark iteration sees them.
struct Pipeline {
    encoder: TileEncoder,
    framebuffer: Framebuffer,
}

impl Pipeline {
    fn new(zstd_level: i32) -> Self {
        Self {
            encoder: TileEncoder::new(EncoderSettings { zstd_level }),
            framebuffer: Framebuffer::new(WIDTH, HEIGHT).expect("1080p is a valid screen"),
        }
    }

    /// Encodes and applies one frame; returns the updates' wire bytes.
    fn send(&mut self, screen: &Screen, frame_seq: u64) -> (Vec<FrameUpdate>, usize) {
        let updates = self
            .encoder
            .encode(&screen.frame(), frame_seq)
            .expect("a well-formed frame encodes");
        for update in &updates {
            self.framebuffer
                .apply(update)
                .expect("encoder output applies");
        }
        let bytes = wire_bytes(&updates);
        (updates, bytes)
    }

    /// Like `send`, timing the encoder and the viewer separately, in CPU
    /// time of this thread (one core, whatever else the machine runs) and
    /// in wall time.
    fn send_timed(&mut self, screen: &Screen, frame_seq: u64) -> Timed {
        let (wall0, cpu0) = (Instant::now(), thread_cpu());
        let updates = self
            .encoder
            .encode(&screen.frame(), frame_seq)
            .expect("a well-formed frame encodes");
        let (wall1, cpu1) = (Instant::now(), thread_cpu());
        for update in &updates {
            self.framebuffer
                .apply(update)
                .expect("encoder output applies");
        }
        let (wall2, cpu2) = (Instant::now(), thread_cpu());
        Timed {
            encode_cpu: cpu1 - cpu0,
            decode_cpu: cpu2 - cpu1,
            encode_wall: wall1 - wall0,
            wall: wall2 - wall0,
            bytes: wire_bytes(&updates),
            tiles: tile_count(&updates),
        }
    }
}

struct Timed {
    encode_cpu: Duration,
    decode_cpu: Duration,
    encode_wall: Duration,
    wall: Duration,
    bytes: usize,
    tiles: usize,
}

/// CPU time this thread has run, from the scheduler's nanosecond count
/// (Linux `/proc/thread-self/schedstat`, first field). The kernel updates it
/// at scheduler ticks (4 ms here), so one reading is coarse; the mean of
/// many differences is not (a tick lands in an interval in proportion to
/// its length), which is how this file uses it.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux with /proc/thread-self/schedstat");
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat starts with nanoseconds on CPU");
    Duration::from_nanos(nanos)
}

fn wire_bytes(updates: &[FrameUpdate]) -> usize {
    updates
        .iter()
        .map(|u| u.to_frame().expect("fits a frame").len() + RECORD_OVERHEAD + HEADER_LEN)
        .sum()
}

fn tile_count(updates: &[FrameUpdate]) -> usize {
    updates.iter().map(|u| u.tiles.len()).sum()
}

fn codec(c: &mut Criterion) {
    let t = Duration::from_millis(12_345);
    let dark = Screen::render(&PanelState::at(t), Theme::Dark);
    let light = Screen::render(&PanelState::at(t), Theme::Light);
    let (before, after) = two_percent_damage();

    let mut group = c.benchmark_group("tiles");
    let mut pipeline = Pipeline::new(DEFAULT_ZSTD_LEVEL);
    let mut seq = 0u64;
    group.bench_function("full_change_1080p", |b| {
        b.iter(|| {
            seq += 1;
            let screen = if seq.is_multiple_of(2) { &dark } else { &light };
            let (updates, bytes) = pipeline.send(screen, seq);
            assert_eq!(tile_count(&updates), TILES_1080P);
            bytes
        })
    });
    let mut pipeline = Pipeline::new(DEFAULT_ZSTD_LEVEL);
    pipeline.send(&before, 0);
    let mut seq = 0u64;
    group.bench_function("damage_2pct_1080p", |b| {
        b.iter(|| {
            seq += 1;
            let screen = if seq.is_multiple_of(2) {
                &before
            } else {
                &after
            };
            pipeline.send(screen, seq).1
        })
    });
    seq += 1;
    pipeline.send(&after, seq);
    group.bench_function("still_1080p", |b| {
        b.iter(|| {
            seq += 1;
            let updates = pipeline.encoder.encode(&after.frame(), seq).unwrap();
            assert!(updates.is_empty());
        })
    });
    group.finish();
}

/// Two frames differing only in a few readout values: readouts change one
/// by one until 2 % of the tiles (10 of 510) differ.
fn two_percent_damage() -> (Screen, Screen) {
    let state = PanelState::at(Duration::from_millis(12_345));
    let before = Screen::render(&state, Theme::Dark);
    let mut changed = state.clone();
    for readout in 0..READOUTS {
        // The last digit changes, as a live value does between refreshes.
        changed.values[readout] += 0.01;
        let after = Screen::render(&changed, Theme::Dark);
        if changed_tiles(&before, &after) * 100 >= 2 * TILES_1080P {
            return (before, after);
        }
    }
    unreachable!("all readouts change more than 2 % of the tiles");
}

fn changed_tiles(a: &Screen, b: &Screen) -> usize {
    let mut encoder = TileEncoder::new(EncoderSettings::default());
    encoder.encode(&a.frame(), 0).unwrap();
    tile_count(&encoder.encode(&b.frame(), 1).unwrap())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `runs` alternations between two frames: mean CPU time (see
/// `thread_cpu`), median wall time.
struct Case {
    encode_cpu: Duration,
    decode_cpu: Duration,
    wall: Duration,
    bytes: usize,
    tiles: usize,
}

fn sweep_case(level: i32, frames: [&Screen; 2], runs: u32) -> Case {
    let mut pipeline = Pipeline::new(level);
    pipeline.send(frames[0], 0);
    let runs: Vec<Timed> = (1..=runs)
        .map(|seq| pipeline.send_timed(frames[(seq % 2) as usize], u64::from(seq)))
        .collect();
    let mean = |f: fn(&Timed) -> Duration| runs.iter().map(f).sum::<Duration>() / runs.len() as u32;
    Case {
        encode_cpu: mean(|t| t.encode_cpu),
        decode_cpu: mean(|t| t.decode_cpu),
        wall: median(runs.iter().map(|t| t.wall).collect()),
        bytes: runs.iter().map(|t| t.bytes).max().unwrap_or(0),
        tiles: runs[0].tiles,
    }
}

fn level_sweep() {
    let t = Duration::from_millis(12_345);
    let dark = Screen::render(&PanelState::at(t), Theme::Dark);
    let light = Screen::render(&PanelState::at(t), Theme::Light);
    let (before, after) = two_percent_damage();
    println!("\n== zstd level sweep: 1920x1080, one thread; mean CPU time of the thread (median wall time in brackets) ==");
    println!(
        "full change: 81 frames alternating themes; damage: 801 frames alternating readout values"
    );
    for level in [-5, -1, 1, 2, 3, 4, 6] {
        let full = sweep_case(level, [&dark, &light], 81);
        let damage = sweep_case(level, [&before, &after], 801);
        assert_eq!(full.tiles, TILES_1080P);
        let workload = simulate_for(level, 15, PanelState::at);
        println!(
            "level {level:>2} | full change: encode {:6.2} + decode {:5.2} = {:6.2} ms ({:6.2}), {:>7} B \
             | {} tiles ({:.1} %): encode {:5.3} + decode {:5.3} = {:5.3} ms ({:5.3}), {:>5} B \
             | 15 s of the changing screen: {:.0} kbit/s at {:.1} fps, encode CPU {:.2} ms per capture",
            ms(full.encode_cpu),
            ms(full.decode_cpu),
            ms(full.encode_cpu + full.decode_cpu),
            ms(full.wall),
            full.bytes,
            damage.tiles,
            damage.tiles as f64 * 100.0 / TILES_1080P as f64,
            ms(damage.encode_cpu),
            ms(damage.decode_cpu),
            ms(damage.encode_cpu + damage.decode_cpu),
            ms(damage.wall),
            damage.bytes,
            workload.bytes as f64 * 8.0 / 15.0 / 1e3,
            workload.captures as f64 / 15.0,
            ms(workload.encode_cpu / workload.captures as u32),
        );
    }
}

/// What a simulated minute of streaming sent.
#[derive(Default)]
struct Minute {
    captures: u64,
    frames_with_updates: u64,
    bytes: u64,
    first_frame_bytes: u64,
    encode_cpu: Duration,
    decode_cpu: Duration,
    encode_wall: Vec<Duration>,
    bytes_per_second: Vec<u64>,
}

impl Minute {
    fn report(&self, name: &str) {
        let kbit = |bytes: u64| bytes as f64 * 8.0 / 60.0 / 1e3;
        assert_eq!(self.bytes_per_second.len(), 60, "reports are for a minute");
        let mut encode = self.encode_wall.clone();
        encode.sort();
        let captures = self.captures as u32;
        let peak = self.bytes_per_second.iter().max().copied().unwrap_or(0);
        println!(
            "\n== {name}: 60 s simulated, default pacing (6 Mbit/s, max 30 fps, 0.5 s burst) =="
        );
        println!(
            "bytes {} | mean {:.1} kbit/s | after the first (full) frame of {} B: {:.1} kbit/s | peak 1 s window {:.1} kbit/s",
            self.bytes,
            kbit(self.bytes),
            self.first_frame_bytes,
            kbit(self.bytes - self.first_frame_bytes),
            peak as f64 * 8.0 / 1e3
        );
        println!(
            "captures {} ({:.2} fps) | captures that sent updates {} ({:.2} fps)",
            self.captures,
            self.captures as f64 / 60.0,
            self.frames_with_updates,
            self.frames_with_updates as f64 / 60.0
        );
        println!(
            "per capture: host encode CPU mean {:.3} ms, viewer decode CPU mean {:.3} ms | encode wall median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(self.encode_cpu / captures),
            ms(self.decode_cpu / captures),
            ms(encode[encode.len() / 2]),
            ms(encode[encode.len() * 99 / 100]),
            ms(encode[encode.len() - 1])
        );
    }
}

/// Streams 60 s of `state_at(t)` through encoder, pacer and viewer.
fn simulate(state_at: impl FnMut(Duration) -> PanelState) -> Minute {
    simulate_for(DEFAULT_ZSTD_LEVEL, 60, state_at)
}

fn simulate_for(
    level: i32,
    seconds: u64,
    mut state_at: impl FnMut(Duration) -> PanelState,
) -> Minute {
    let mut pipeline = Pipeline::new(level);
    let mut pacer = FramePacer::new(PacingSettings::default());
    let mut minute = Minute {
        bytes_per_second: vec![0; seconds as usize],
        ..Minute::default()
    };
    let start = Instant::now();
    let mut now = start;
    let mut screen = Screen::render(&state_at(Duration::ZERO), Theme::Dark);
    loop {
        let captured_at = pacer.next_capture_at(now);
        let t = captured_at - start;
        if t >= Duration::from_secs(seconds) {
            break;
        }
        screen = Screen::render(&state_at(t), Theme::Dark);
        let timed = pipeline.send_timed(&screen, minute.captures);
        let bytes = timed.bytes as u64;
        if minute.captures == 0 {
            minute.first_frame_bytes = bytes;
        }
        minute.captures += 1;
        minute.frames_with_updates += u64::from(timed.tiles > 0);
        minute.bytes += bytes;
        minute.bytes_per_second[t.as_secs() as usize] += bytes;
        minute.encode_cpu += timed.encode_cpu;
        minute.decode_cpu += timed.decode_cpu;
        minute.encode_wall.push(timed.encode_wall);
        // The host loop is busy encoding, then reports the capture.
        now = captured_at + timed.encode_wall;
        pacer.on_frame_sent(timed.bytes, captured_at);
    }
    assert_eq!(
        pipeline.framebuffer.bgrx(),
        screen.bgrx.as_slice(),
        "the viewer's image must equal the last captured frame"
    );
    minute
}

fn streaming_minute() {
    simulate(PanelState::at).report("changing instrument screen");
}

fn still_minute() {
    let frozen = PanelState::at(Duration::from_secs(7));
    simulate(|_| frozen.clone()).report("still screen");
    // Idle instrument: nothing moves but the clock, once a second.
    simulate(|t| PanelState {
        clock_secs: frozen.clock_secs + t.as_secs(),
        ..frozen.clone()
    })
    .report("idle screen, only the clock ticking");
}

// ---- the synthetic instrument screen ----

const READOUTS: usize = 24;

/// Everything on the screen that changes with time.
#[derive(Clone)]
struct PanelState {
    clock_secs: u64,
    values: [f64; READOUTS],
    /// Trace scroll position, in pixels.
    scroll_px: u64,
    events: u64,
    /// Histogram generation (refreshed every 2 s).
    histogram: u64,
    lights: u8,
    progress_px: u32,
}

impl PanelState {
    fn at(t: Duration) -> Self {
        let ms = t.as_millis() as u64;
        let mut values = [0.0; READOUTS];
        for (i, value) in values.iter_mut().enumerate() {
            // Refresh periods of 200 ms to 2 s: several changes a second.
            let period = [200, 250, 500, 1000, 2000][i % 5];
            let step = (ms / period) as f64;
            *value = 100.0 * (i as f64 + 1.0) + 12.5 * (step * 0.7 + i as f64).sin();
        }
        Self {
            clock_secs: 9 * 3600 + 41 * 60 + t.as_secs(),
            values,
            scroll_px: ms * 90 / 1000,
            events: ms * 37 / 10,
            histogram: ms / 2000,
            lights: (ms / 500 % 4) as u8,
            progress_px: (ms / 100) as u32 % 600,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Theme {
    Dark,
    Light,
}

struct Palette {
    background: u32,
    panel: u32,
    border: u32,
    title: u32,
    text: u32,
    dim: u32,
    plot: u32,
    grid: u32,
    trace: u32,
    bar: u32,
}

impl Theme {
    fn palette(self) -> Palette {
        match self {
            Theme::Dark => Palette {
                background: 0x1d2228,
                panel: 0x262d35,
                border: 0x3a4654,
                title: 0x1c4e80,
                text: 0xe8eef4,
                dim: 0x8a9aab,
                plot: 0x101418,
                grid: 0x24303a,
                trace: 0x40e0a0,
                bar: 0x3f8fd0,
            },
            Theme::Light => Palette {
                background: 0xeef1f4,
                panel: 0xffffff,
                border: 0xc5ced8,
                title: 0x2a6db0,
                text: 0x1b2430,
                dim: 0x5d6b7a,
                plot: 0xfafcff,
                grid: 0xdde4ec,
                trace: 0x0a7a50,
                bar: 0x2a6db0,
            },
        }
    }
}

/// A BGRX image laid out as scrap gives it (stride = width × 4).
struct Screen {
    bgrx: Vec<u8>,
}

impl Screen {
    fn frame(&self) -> CapturedFrame<'_> {
        CapturedFrame {
            width: WIDTH,
            height: HEIGHT,
            stride: WIDTH as usize * 4,
            bgrx: &self.bgrx,
        }
    }

    fn render(state: &PanelState, theme: Theme) -> Self {
        let p = theme.palette();
        let mut s = Self {
            bgrx: vec![0; WIDTH as usize * HEIGHT as usize * 4],
        };
        s.fill(0, 0, WIDTH, HEIGHT, p.background);
        // Title bar with the instrument name and a clock.
        s.fill(0, 0, WIDTH, 48, p.title);
        s.text(
            16,
            17,
            2,
            "NAVIOS EX  CYTOMETER 0042  ACQUISITION RUNNING",
            0xffffff,
            p.title,
        );
        let c = state.clock_secs;
        let clock = format!("{:02}:{:02}:{:02}", c / 3600 % 24, c / 60 % 60, c % 60);
        s.text(1780, 14, 3, &clock, 0xffffff, p.title);
        // Readouts: two columns of twelve.
        for (i, value) in state.values.iter().enumerate() {
            let x = 16 + (i as u32 % 2) * 304;
            let y = 64 + (i as u32 / 2) * 78;
            s.fill(x, y, 292, 70, p.border);
            s.fill(x + 1, y + 1, 290, 68, p.panel);
            s.text(
                x + 10,
                y + 8,
                2,
                READOUT_NAMES[i % READOUT_NAMES.len()],
                p.dim,
                p.panel,
            );
            s.text(x + 10, y + 32, 4, &format!("{value:9.2}"), p.text, p.panel);
            s.text(
                x + 236,
                y + 40,
                2,
                ["UL", "MV", "PCT", "C"][i % 4],
                p.dim,
                p.panel,
            );
        }
        s.plot(state, &p);
        s.histogram(state, &p);
        // Status bar: lights, progress, event counter.
        s.fill(0, 1016, WIDTH, 64, p.panel);
        for light in 0..4u32 {
            let on = u32::from(state.lights) == light;
            s.fill(
                24 + light * 40,
                1036,
                24,
                24,
                if on { 0x30d060 } else { p.border },
            );
        }
        s.fill(220, 1040, 600, 16, p.border);
        s.fill(220, 1040, state.progress_px, 16, p.bar);
        s.text(
            860,
            1038,
            2,
            &format!("EVENTS {:>10}", state.events),
            p.text,
            p.panel,
        );
        s.text(
            1300,
            1038,
            2,
            "SAMPLE TUBE 17 OF 40  CARRIER B",
            p.dim,
            p.panel,
        );
        s
    }

    fn plot(&mut self, state: &PanelState, p: &Palette) {
        let (x0, y0, w, h) = (640u32, 64u32, 1264u32, 620u32);
        self.fill(x0, y0, w, h, p.plot);
        for gx in (x0..x0 + w).step_by(50) {
            self.fill(gx, y0, 1, h, p.grid);
        }
        for gy in (y0..y0 + h).step_by(50) {
            self.fill(x0, gy, w, 1, p.grid);
        }
        self.text(x0 + 12, y0 + 10, 2, "FSC-A  CH 3  LIVE", p.dim, p.plot);
        let sample = |x: u32| -> u32 {
            let world = (u64::from(x) + state.scroll_px) as f64;
            let wave = 0.55 * (world / 47.0).sin() + 0.25 * (world / 13.0).sin();
            // A sharp peak every 400 px, like events on a trace.
            let peak = (-((world % 400.0) - 200.0).powi(2) / 60.0).exp();
            let v = 0.5 + 0.3 * wave + 0.45 * peak;
            y0 + 20 + ((1.0 - v.clamp(0.0, 1.0)) * f64::from(h - 40)) as u32
        };
        let mut last = sample(0);
        for x in 0..w {
            let y = sample(x);
            let (top, bottom) = (last.min(y), last.max(y));
            self.fill(x0 + x, top, 2, bottom - top + 2, p.trace);
            last = y;
        }
    }

    fn histogram(&mut self, state: &PanelState, p: &Palette) {
        let (x0, y0, w, h) = (640u32, 700u32, 1264u32, 300u32);
        self.fill(x0, y0, w, h, p.border);
        self.fill(x0 + 1, y0 + 1, w - 2, h - 2, p.panel);
        self.text(
            x0 + 12,
            y0 + 10,
            2,
            "HISTOGRAM  CD45  LAST 2 S",
            p.dim,
            p.panel,
        );
        for bar in 0..96u32 {
            let phase = f64::from(bar) / 9.0 + state.histogram as f64 * 0.3;
            let height = (200.0
                * (0.5 + 0.5 * phase.sin())
                * (-(f64::from(bar) - 48.0).powi(2) / 900.0).exp()) as u32
                + 2;
            self.fill(x0 + 20 + bar * 12, y0 + h - 20 - height, 9, height, p.bar);
        }
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, rgb: u32) {
        let (x1, y1) = ((x + w).min(WIDTH), (y + h).min(HEIGHT));
        if x >= x1 || y >= y1 {
            return;
        }
        let pixel = (rgb & 0x00ff_ffff).to_le_bytes();
        let row: Vec<u8> = pixel
            .iter()
            .copied()
            .cycle()
            .take((x1 - x) as usize * 4)
            .collect();
        for yy in y..y1 {
            let at = (yy as usize * WIDTH as usize + x as usize) * 4;
            self.bgrx[at..at + row.len()].copy_from_slice(&row);
        }
    }

    /// 5×7 glyphs scaled up, with a one-pixel anti-aliasing fringe in a
    /// blend of text and background, as rendered UI text has.
    fn text(&mut self, x: u32, y: u32, scale: u32, text: &str, fg: u32, bg: u32) {
        let fringe = blend(fg, bg);
        for (i, ch) in text.chars().enumerate() {
            let gx = x + i as u32 * 6 * scale;
            let rows = glyph(ch);
            for pass in [fringe, fg] {
                let shift = u32::from(pass == fringe);
                for (row, bits) in rows.iter().enumerate() {
                    for col in 0..5u32 {
                        if bits & (0x10 >> col) != 0 {
                            let px = gx + col * scale + shift;
                            let py = y + row as u32 * scale + shift;
                            self.fill(px, py, scale, scale, pass);
                        }
                    }
                }
            }
        }
    }
}

const READOUT_NAMES: [&str; 8] = [
    "LASER 488 POWER",
    "SHEATH PRESSURE",
    "SAMPLE FLOW",
    "FLUIDICS TEMP",
    "PMT FL1 VOLTAGE",
    "EVENT RATE",
    "ABORT RATE",
    "WASTE LEVEL",
];

fn blend(a: u32, b: u32) -> u32 {
    let channel = |shift: u32| (((a >> shift) & 0xff) * 2 + ((b >> shift) & 0xff) * 3) / 5;
    channel(16) << 16 | channel(8) << 8 | channel(0)
}
