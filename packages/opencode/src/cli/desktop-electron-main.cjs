// Electron's main process for `opencode desktop`: one window on the server's URL; the app quits
// when its last window closes (on every platform, so the desktop command sees the exit).
const { app, BrowserWindow } = require("electron")

const url = process.env.OPENCODE_DESKTOP_URL
if (process.env.OPENCODE_DESKTOP_PROFILE) app.setPath("userData", process.env.OPENCODE_DESKTOP_PROFILE)

app.whenReady().then(() => {
  const window = new BrowserWindow({
    width: 1280,
    height: 860,
    title: "opencode",
    webPreferences: { contextIsolation: true, sandbox: true },
  })
  window.setMenuBarVisibility(false)
  void window.loadURL(url)
})
app.on("window-all-closed", () => app.quit())
