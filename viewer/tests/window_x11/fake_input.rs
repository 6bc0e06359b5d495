//! Real X input for the window tests through the XTEST extension, the way
//! a physical mouse and keyboard reach a window: the X server routes each
//! event to the window under the pointer, and winit sees it like any other.
//!
//! libX11 and libXtst are loaded with `dlopen` (glibc's, which std already
//! links), so the viewer needs no X11 client crate just for its tests. Only
//! `libX11.so.6` and `libXtst.so.6` (runtime packages) are needed.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr, CString};

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;
const X_FALSE: c_int = 0;
const X_TRUE: c_int = 1;
/// "The screen the pointer is on" for XTestFakeMotionEvent.
const CURRENT_SCREEN: c_int = -1;

/// "Now", for XSetInputFocus.
const CURRENT_TIME: c_ulong = 0;
/// Where focus goes if the focused window disappears.
const REVERT_TO_PARENT: c_int = 2;

type Display = c_void;
type XWindow = c_ulong;

/// The Xlib and XTEST functions the tests call, resolved once.
struct Xlib {
    open_display: unsafe extern "C" fn(*const c_char) -> *mut Display,
    close_display: unsafe extern "C" fn(*mut Display) -> c_int,
    sync: unsafe extern "C" fn(*mut Display, c_int) -> c_int,
    keysym_to_keycode: unsafe extern "C" fn(*mut Display, c_ulong) -> u8,
    default_root_window: unsafe extern "C" fn(*mut Display) -> XWindow,
    #[allow(clippy::type_complexity)]
    query_pointer: unsafe extern "C" fn(
        *mut Display,
        XWindow,
        *mut XWindow,
        *mut XWindow,
        *mut c_int,
        *mut c_int,
        *mut c_int,
        *mut c_int,
        *mut c_uint,
    ) -> c_int,
    set_input_focus: unsafe extern "C" fn(*mut Display, XWindow, c_int, c_ulong) -> c_int,
    fake_key: unsafe extern "C" fn(*mut Display, c_uint, c_int, c_ulong) -> c_int,
    fake_button: unsafe extern "C" fn(*mut Display, c_uint, c_int, c_ulong) -> c_int,
    fake_motion: unsafe extern "C" fn(*mut Display, c_int, c_int, c_int, c_ulong) -> c_int,
}

fn library(name: &str) -> *mut c_void {
    let c_name = CString::new(name).expect("library name has no NUL");
    // SAFETY: dlopen with a valid C string; the handle is never closed, so
    // the resolved functions stay valid for the life of the process.
    let handle = unsafe { dlopen(c_name.as_ptr(), RTLD_NOW) };
    assert!(!handle.is_null(), "cannot load {name}: {}", last_dl_error());
    handle
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a valid C string owned by libdl.
    let message = unsafe { dlerror() };
    if message.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: non-null, NUL-terminated, valid until the next dl call.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Resolves `symbol` in `handle` as a function of type `F`.
///
/// # Safety
/// `F` must be the C signature of `symbol`.
unsafe fn symbol<F: Copy>(handle: *mut c_void, symbol: &str) -> F {
    let c_symbol = CString::new(symbol).expect("symbol has no NUL");
    let address = dlsym(handle, c_symbol.as_ptr());
    assert!(
        !address.is_null(),
        "cannot find {symbol}: {}",
        last_dl_error()
    );
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    std::mem::transmute_copy(&address)
}

impl Xlib {
    fn load() -> Xlib {
        let x11 = library("libX11.so.6");
        let xtst = library("libXtst.so.6");
        // SAFETY: each type below is the documented Xlib / XTEST signature.
        unsafe {
            Xlib {
                open_display: symbol(x11, "XOpenDisplay"),
                close_display: symbol(x11, "XCloseDisplay"),
                sync: symbol(x11, "XSync"),
                keysym_to_keycode: symbol(x11, "XKeysymToKeycode"),
                default_root_window: symbol(x11, "XDefaultRootWindow"),
                query_pointer: symbol(x11, "XQueryPointer"),
                set_input_focus: symbol(x11, "XSetInputFocus"),
                fake_key: symbol(xtst, "XTestFakeKeyEvent"),
                fake_button: symbol(xtst, "XTestFakeButtonEvent"),
                fake_motion: symbol(xtst, "XTestFakeMotionEvent"),
            }
        }
    }
}

/// A connection that types and moves the pointer on one X display.
pub struct FakeInput {
    xlib: Xlib,
    display: *mut Display,
}

impl FakeInput {
    pub fn open(display_name: &str) -> FakeInput {
        let xlib = Xlib::load();
        let name = CString::new(display_name).expect("display name has no NUL");
        // SAFETY: valid C string; a NULL result is checked.
        let display = unsafe { (xlib.open_display)(name.as_ptr()) };
        assert!(!display.is_null(), "cannot open X display {display_name}");
        FakeInput { xlib, display }
    }

    /// Moves the pointer to absolute screen coordinates.
    pub fn move_to(&self, x: i32, y: i32) {
        // SAFETY: `display` is open for the life of `self`.
        unsafe { (self.xlib.fake_motion)(self.display, CURRENT_SCREEN, x, y, 0) };
        self.sync();
    }

    /// Presses or releases the key that types `keysym` in the server's map.
    pub fn key(&self, keysym: u32, pressed: bool) {
        // SAFETY: `display` is open for the life of `self`.
        let keycode = unsafe { (self.xlib.keysym_to_keycode)(self.display, c_ulong::from(keysym)) };
        assert_ne!(keycode, 0, "keysym {keysym:#x} has no key on this server");
        let state = if pressed { X_TRUE } else { X_FALSE };
        // SAFETY: as above.
        unsafe { (self.xlib.fake_key)(self.display, c_uint::from(keycode), state, 0) };
        self.sync();
    }

    /// Presses or releases pointer button 1 (left), 2 (middle), 3 (right).
    pub fn button(&self, button: u32, pressed: bool) {
        let state = if pressed { X_TRUE } else { X_FALSE };
        // SAFETY: `display` is open for the life of `self`.
        unsafe { (self.xlib.fake_button)(self.display, button, state, 0) };
        self.sync();
    }

    /// Gives the keyboard to the top-level window under the pointer, as a
    /// window manager would on a click (without one, nothing focuses).
    pub fn focus_window_under_pointer(&self) {
        let window = self.window_under_pointer();
        assert_ne!(window, 0, "no window under the pointer");
        self.set_focus(window);
    }

    /// Takes the keyboard away from every window (focus to the root).
    pub fn focus_root(&self) {
        // SAFETY: `display` is open for the life of `self`.
        let root = unsafe { (self.xlib.default_root_window)(self.display) };
        self.set_focus(root);
    }

    fn window_under_pointer(&self) -> XWindow {
        let (mut root, mut child) = (0, 0);
        let (mut root_x, mut root_y, mut x, mut y, mut mask) = (0, 0, 0, 0, 0);
        // SAFETY: `display` is open; every out-pointer is a valid local.
        unsafe {
            let root_window = (self.xlib.default_root_window)(self.display);
            (self.xlib.query_pointer)(
                self.display,
                root_window,
                &mut root,
                &mut child,
                &mut root_x,
                &mut root_y,
                &mut x,
                &mut y,
                &mut mask,
            );
        }
        child
    }

    fn set_focus(&self, window: XWindow) {
        // SAFETY: `display` is open for the life of `self`.
        unsafe {
            (self.xlib.set_input_focus)(self.display, window, REVERT_TO_PARENT, CURRENT_TIME)
        };
        self.sync();
    }

    /// Waits until the server has processed every request so far.
    fn sync(&self) {
        // SAFETY: `display` is open for the life of `self`.
        unsafe { (self.xlib.sync)(self.display, X_FALSE) };
    }
}

impl Drop for FakeInput {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, closed once here.
        unsafe { (self.xlib.close_display)(self.display) };
    }
}
