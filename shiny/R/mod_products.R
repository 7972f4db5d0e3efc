# Products: top products, categories and brands by views, add-to-cart rate, purchase rate or
# revenue, and a sortable table of every product.

RANK_BY <- c("Product views" = "views", "Add to cart per product view" = "add_to_cart_rate",
             "Purchases per product view" = "purchase_rate", Revenue = "revenue")

# Why product purchases differ from the purchasing sessions of the Overview and the Funnel.
PRODUCTS_NOTE <- paste(
  "Purchases here count products bought: an order of two products counts for both, and an order whose products",
  "are not known (none sent and nothing in the cart before it) counts for none. So they differ from the",
  "purchasing sessions of the Overview and the Funnel."
)

products_ui <- function(id) {
  ns <- NS(id)
  tagList(
    div(class = "d-flex gap-3 align-items-end",
        selectInput(ns("rank_by"), "Rank by", choices = RANK_BY, selected = "views", width = "200px"),
        numericInput(ns("top_n"), "Top", value = 10, min = 3, max = 50, width = "100px"),
        numericInput(ns("min_views"), "Min. views for rates", value = 20, min = 0, width = "180px")),
    p(class = "small text-muted mb-2 products-note", PRODUCTS_NOTE),
    dw_chart(ns, "top_products", "Top products", height = "380px"),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      dw_chart(ns, "categories", "Categories"),
      dw_chart(ns, "brands", "Brands")
    ),
    dw_table_card(ns, "table", "All products")
  )
}

products_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    rows <- reactive(dw_query_safe(dw, "products", filter_params(filters())))
    rank_by <- reactive(if (is.null(input$rank_by)) "views" else input$rank_by)
    top_n <- reactive(max(3, min(50, if (is.numeric(input$top_n) && !is.na(input$top_n)) input$top_n else 10)))
    min_views <- reactive(if (is.numeric(input$min_views) && !is.na(input$min_views)) input$min_views else 20)
    by_product <- reactive(product_rollup(rows(), "product"))
    by_category <- reactive(product_rollup(rows(), "product_category"))
    by_brand <- reactive(product_rollup(rows(), "product_brand"))

    bar <- function(rolled, title) {
      by <- rank_by()
      top <- top_n_by(rolled, by, top_n(), min_views())
      if (!nrow(top) || sum(num0(top[[by]])) == 0) return(empty_plot(detail = empty_reason(rows())))
      top$label <- factor(top$label, levels = rev(unique(top$label)))
      top$value <- num0(top[[by]])
      top$hover <- sprintf("%s<br>%s product views · add to cart %s · purchases %s per product view · revenue %s",
                           plotly_text(top$label), format(top$views, big.mark = ","),
                           format_rate(top$add_to_cart_rate, top$views, min_n, "views"),
                           format_rate(top$purchase_rate, top$views, min_n, "views"),
                           formatC(top$revenue, format = "f", digits = 2, big.mark = ","))
      p <- plotly::plot_ly(top, x = ~value, y = ~label, type = "bar", orientation = "h", text = ~hover,
                           hoverinfo = "text", textposition = "none", marker = list(color = "#0d6efd"))
      finish_plot(p, margin = list(l = 180, r = 20, t = 30, b = 50), yaxis = list(title = ""), xaxis = list(title = names(RANK_BY)[RANK_BY == by],
                                                             tickformat = if (grepl("rate", by)) ".0%" else ""))
    }
    output$top_products <- plotly::renderPlotly(bar(by_product(), "Products"))
    output$categories <- plotly::renderPlotly(bar(by_category(), "Categories"))
    output$brands <- plotly::renderPlotly(bar(by_brand(), "Brands"))
    # The figures behind a bar chart: its top items with every measure.
    top_display <- function(rolled) reactive({
      top <- top_n_by(rolled(), rank_by(), top_n(), min_views())
      d <- top[, c("label", "views", "add_to_cart_rate", "purchase_rate", "revenue")]
      names(d) <- c("Name", "Product views", "Add to cart per product view", "Purchases per product view", "Revenue")
      d
    })
    top_format <- function(d) {
      dw_table(d, money = "Revenue", int = "Product views", min_n = min_n,
               rates = list("Add to cart per product view" = list(n = d[["Product views"]], unit = "views"),
                            "Purchases per product view" = list(n = d[["Product views"]], unit = "views")))
    }
    serve_chart_data(output, "top_products", top_display(by_product), filters, "top_products", top_format)
    serve_chart_data(output, "categories", top_display(by_category), filters, "top_categories", top_format)
    serve_chart_data(output, "brands", top_display(by_brand), filters, "top_brands", top_format)
    all_products <- reactive({
      d <- by_product()[, c("key", "label", "product_category", "product_brand", "views", "add_to_carts",
                            "checkouts", "purchases", "revenue", "add_to_cart_rate", "purchase_rate")]
      names(d) <- c("Product id", "Product", "Category", "Brand", "Product views", "Add to cart", "Checkouts",
                    "Purchases", "Revenue", "Add to cart per product view", "Purchases per product view")
      d[order(-d[["Product views"]]), , drop = FALSE]
    })
    serve_table(output, "table", all_products, filters, function(d) {
      views <- d[["Product views"]]
      dw_table(d, money = "Revenue", page_length = 15, min_n = min_n,
               rates = list("Add to cart per product view" = list(n = views, unit = "views"),
                            "Purchases per product view" = list(n = views, unit = "views")))
    }, "products")

    list(rows = rows, by_product = by_product, by_category = by_category, by_brand = by_brand)
  })
}
